//! `--change` instructions for `docker import` (and later `docker commit`): the Dockerfile
//! instructions that only edit the image config, applied to a config JSON object.

use crate::container::spec::ContainerConfig;
use crate::{Error, Result};

/// Instructions `--change` accepts, as moby lists them.
const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies each change line to `config` (the image config's `config` object).
pub fn apply(config: &mut ContainerConfig, changes: &[String]) -> Result<()> {
    for line in changes {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = match line.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (line, ""),
        };
        let instruction = word.to_ascii_uppercase();
        if !ALLOWED.contains(&instruction.as_str()) {
            return Err(Error::invalid(format!(
                "{instruction} is not a valid change command"
            )));
        }
        match instruction.as_str() {
            "CMD" => config.cmd = Some(command_form(rest)?),
            "ENTRYPOINT" => config.entrypoint = Some(command_form(rest)?),
            "ENV" => {
                for (k, v) in key_values(rest, "ENV")? {
                    config.set_env(&k, &v);
                }
            }
            "LABEL" => {
                for (k, v) in key_values(rest, "LABEL")? {
                    config.set_label(&k, &v);
                }
            }
            "EXPOSE" => {
                for p in rest.split_whitespace() {
                    if p.contains('/') {
                        config.expose(p);
                    } else {
                        config.expose(&format!("{p}/tcp"));
                    }
                }
            }
            "VOLUME" => {
                let list: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest)
                        .map_err(|_| Error::invalid("VOLUME needs a JSON array of strings"))?
                } else {
                    rest.split_whitespace().map(str::to_string).collect()
                };
                for v in list {
                    config.declare_volume(&v);
                }
            }
            "ONBUILD" => config.add_on_build(rest),
            "STOPSIGNAL" => config.stop_signal = Some(rest.to_string()),
            "USER" => config.user = Some(rest.to_string()),
            "WORKDIR" => config.working_dir = Some(rest.to_string()),
            _ => unreachable!("checked against ALLOWED"),
        }
    }
    Ok(())
}

/// JSON exec form, or shell form wrapped in `/bin/sh -c`.
fn command_form(rest: &str) -> Result<Vec<String>> {
    if rest.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(rest)
    {
        return Ok(list);
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

/// `k=v k2="v 2"` or the legacy single `k v` form.
fn key_values(rest: &str, what: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest);
    if words.is_empty() {
        return Err(Error::invalid(format!(
            "{what} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k.to_string(), unquote(v.trim())))
            .unwrap_or((rest.to_string(), String::new()));
        return Ok(vec![(k, v)]);
    }
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), unquote(v)))
                .ok_or_else(|| Error::invalid(format!("{what} names can not be blank: {w}")))
        })
        .collect()
}

/// Splits on whitespace outside quotes, keeping the quotes for `unquote`.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', _) => {
                cur.push(c);
                escaped = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                cur.push(c);
            }
            (c, None) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The config the changes make, as it is written in an image config.
    fn applied(changes: &[&str]) -> Value {
        let mut c = ContainerConfig::default();
        apply(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        serde_json::to_value(c).unwrap()
    }

    #[test]
    fn cmd_forms() {
        assert_eq!(
            applied(&[r#"CMD ["echo","hi"]"#])["Cmd"],
            json!(["echo", "hi"])
        );
        assert_eq!(
            applied(&["CMD echo hi"])["Cmd"],
            json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(
            applied(&["entrypoint [\"sh\"]"])["Entrypoint"],
            json!(["sh"])
        );
    }

    #[test]
    fn env_and_labels() {
        let m = applied(&[
            "ENV A=1 B=\"two words\"",
            "ENV A=3",
            "ENV C x y",
            "LABEL a=b",
        ]);
        assert_eq!(m["Env"], json!(["A=3", "B=two words", "C=x y"]));
        assert_eq!(m["Labels"], json!({"a": "b"}));
    }

    #[test]
    fn expose_volume_user_workdir() {
        let m = applied(&[
            "EXPOSE 80 53/udp",
            "VOLUME /data",
            "USER nobody",
            "WORKDIR /w",
            "STOPSIGNAL SIGINT",
        ]);
        assert_eq!(m["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(m["Volumes"], json!({"/data": {}}));
        assert_eq!(m["User"], "nobody");
        assert_eq!(m["WorkingDir"], "/w");
        assert_eq!(m["StopSignal"], "SIGINT");
    }

    #[test]
    fn other_instructions_are_refused() {
        let mut m = ContainerConfig::default();
        let e = apply(&mut m, &["RUN true".to_string()]).unwrap_err();
        assert_eq!(e.message, "RUN is not a valid change command");
    }
}
