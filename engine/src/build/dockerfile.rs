//! Dockerfiles read with moby's grammar: parser directives (`# escape=`), comments, line
//! continuations, instructions with their `--flags`, JSON (exec) and shell forms,
//! `name=value` pairs, and build stages (`FROM … AS name`, with `ARG`s before the first
//! `FROM`). [`expand`] substitutes `$VAR`, `${VAR}`, `${VAR:-word}` and `${VAR:+word}` the way
//! moby's shell lexer does, quotes and escapes included.

use std::collections::BTreeMap;

/// Instructions moby's classic builder knows.
const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A parse error, with the line it is on (dockerd's `dockerfile parse error line N: …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dockerfile parse error line {}: {}",
            self.line, self.message
        )
    }
}

/// What follows an instruction's keyword and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Args {
    /// `["executable", "arg"]`.
    Json(Vec<String>),
    /// Anything else, as written (continuations joined).
    Shell(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Line of the keyword (1-based).
    pub line: usize,
    /// Upper case.
    pub keyword: String,
    /// `--name=value` flags before the arguments, in order.
    pub flags: Vec<(String, String)>,
    pub args: Args,
    /// The instruction as written, on one line (what `Step N/M :` shows).
    pub original: String,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The arguments as one string (a JSON form joined by spaces).
    pub fn text(&self) -> String {
        match &self.args {
            Args::Json(v) => v.join(" "),
            Args::Shell(s) => s.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    /// Every instruction in order, `ARG`s before the first `FROM` included.
    pub instructions: Vec<Instruction>,
}

/// Which instructions expand variables in their arguments (moby's `replaceEnvAllowed`,
/// plus FROM with the ARGs declared before it).
pub fn expands(keyword: &str) -> bool {
    matches!(
        keyword,
        "ADD"
            | "ARG"
            | "COPY"
            | "ENV"
            | "EXPOSE"
            | "FROM"
            | "LABEL"
            | "STOPSIGNAL"
            | "USER"
            | "VOLUME"
            | "WORKDIR"
    )
}

/// Reads a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let mut escape = '\\';
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    // Parser directives: only at the very top, before any comment, blank line or
    // instruction.
    while i < lines.len() {
        let Some(rest) = lines[i].trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.contains(char::is_whitespace) || key.is_empty() {
            break;
        }
        match key.as_str() {
            "escape" => {
                escape = match value.trim() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError {
                            line: i + 1,
                            message: format!(
                                "invalid escape token '{other}' does not match ` or \\"
                            ),
                        });
                    }
                }
            }
            "syntax" | "check" => {}
            _ => break,
        }
        i += 1;
    }
    let mut instructions = Vec::new();
    while i < lines.len() {
        let start = i;
        let first = lines[i];
        i += 1;
        let trimmed = first.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Join continuation lines; comment lines and blank lines inside are dropped.
        let mut joined = String::new();
        let mut current = first.to_string();
        loop {
            let t = current.trim_end();
            if let Some(body) = t.strip_suffix(escape) {
                joined.push_str(body);
                // Skip comments and blank lines inside the continuation.
                while i < lines.len() {
                    let next = lines[i].trim();
                    if next.starts_with('#') || next.is_empty() {
                        i += 1;
                        continue;
                    }
                    break;
                }
                if i >= lines.len() {
                    break;
                }
                current = lines[i].to_string();
                i += 1;
            } else {
                joined.push_str(&current);
                break;
            }
        }
        instructions.push(parse_instruction(start + 1, joined.trim())?);
    }
    if !instructions.iter().any(|ins| ins.keyword == "FROM") {
        if instructions.is_empty() {
            return Err(ParseError {
                line: 0,
                message: "file with no instructions".into(),
            });
        }
        return Err(ParseError {
            line: instructions[0].line,
            message: "no build stage in current context".into(),
        });
    }
    if let Some(bad) = instructions
        .iter()
        .take_while(|ins| ins.keyword != "FROM")
        .find(|ins| ins.keyword != "ARG")
    {
        return Err(ParseError {
            line: bad.line,
            message: "no build stage in current context".into(),
        });
    }
    Ok(Dockerfile {
        escape,
        instructions,
    })
}

fn parse_instruction(line: usize, text: &str) -> Result<Instruction, ParseError> {
    let (word, rest) = match text.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim_start()),
        None => (text, ""),
    };
    let keyword = word.to_ascii_uppercase();
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(ParseError {
            line,
            message: format!("unknown instruction: {word}"),
        });
    }
    let mut flags = Vec::new();
    let mut rest = rest;
    if matches!(
        keyword.as_str(),
        "ADD" | "COPY" | "FROM" | "RUN" | "HEALTHCHECK"
    ) {
        while let Some(f) = rest.strip_prefix("--") {
            let (flag, after) = match f.split_once(char::is_whitespace) {
                Some((a, b)) => (a, b.trim_start()),
                None => (f, ""),
            };
            let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
            flags.push((name.to_string(), value.to_string()));
            rest = after;
        }
    }
    if rest.is_empty() && !matches!(keyword.as_str(), "RUN" | "CMD" | "ENTRYPOINT") {
        return Err(ParseError {
            line,
            message: format!("{keyword} requires at least one argument"),
        });
    }
    let json_form = matches!(
        keyword.as_str(),
        "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "VOLUME" | "COPY" | "ADD"
    );
    let args = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) if json_form && rest.starts_with('[') => Args::Json(v),
        _ if keyword == "SHELL" => {
            return Err(ParseError {
                line,
                message: "SHELL requires the arguments to be in JSON form".into(),
            });
        }
        _ => Args::Shell(rest.to_string()),
    };
    Ok(Instruction {
        line,
        keyword,
        flags,
        args,
        original: text.to_string(),
    })
}

/// Splits `ENV`/`LABEL` arguments into name/value pairs: `a=1 b="two words"`, or the
/// legacy `ENV name value with spaces`. Values are returned unexpanded and with their
/// quotes, for [`expand`].
pub fn name_values(
    keyword: &str,
    text: &str,
    escape: char,
) -> Result<Vec<(String, String)>, String> {
    let words = split_words(text, escape);
    if words.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    if !words[0].contains('=') {
        // Legacy form: the first word names, the rest (as written) is the value.
        let name = words[0].clone();
        let value = text.trim_start()[name.len()..].trim().to_string();
        if value.is_empty() {
            return Err(format!("{keyword} names can not be blank"));
        }
        return Ok(vec![(name, value)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            Some(_) => Err(format!("{keyword} names can not be blank")),
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words.
fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            word.push(c);
            if let Some(n) = chars.next() {
                word.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                word.push(c);
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            None => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Words of an argument list after expansion (`EXPOSE 80 443`, `COPY a b /dst`).
pub fn expand_words(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
) -> Result<Vec<String>, String> {
    split_words(text, escape)
        .iter()
        .map(|w| expand(w, vars, escape))
        .collect()
}

/// Expands variables and removes quotes and escapes, as moby's shell lexer does for a
/// word: single quotes are literal, double quotes expand, the escape character makes the
/// next character literal.
pub fn expand(word: &str, vars: &BTreeMap<String, String>, escape: char) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                } else {
                    out.push(c);
                }
                i += 1;
            }
            _ if c == escape && quote != Some('\'') => {
                if let Some(&n) = chars.get(i + 1) {
                    // Inside double quotes only a few characters are escaped.
                    if quote == Some('"') && !matches!(n, '"' | '$') && n != escape {
                        out.push(c);
                    }
                    out.push(n);
                }
                i += 2;
            }
            Some('"') if c == '"' => {
                quote = None;
                i += 1;
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                i += 1;
            }
            _ if c == '$' => {
                let (value, used) = variable(&chars[i + 1..], vars, escape)?;
                out.push_str(&value);
                i += 1 + used;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A `$…` reference at the start of `rest`: its value, and how many characters it took.
fn variable(
    rest: &[char],
    vars: &BTreeMap<String, String>,
    escape: char,
) -> Result<(String, usize), String> {
    let lookup = |name: &str| vars.get(name).cloned();
    match rest.first() {
        Some('{') => {
            let close = rest
                .iter()
                .position(|c| *c == '}')
                .ok_or_else(|| "missing '}'".to_string())?;
            let inner: String = rest[1..close].iter().collect();
            let taken = close + 1;
            let name_end = inner
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inner.len());
            let (name, modifier) = inner.split_at(name_end);
            let value = lookup(name);
            let result = match modifier {
                "" => value.unwrap_or_default(),
                m if m.starts_with(":-") => match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => expand(&m[2..], vars, escape)?,
                },
                m if m.starts_with(":+") => match value.filter(|v| !v.is_empty()) {
                    Some(_) => expand(&m[2..], vars, escape)?,
                    None => String::new(),
                },
                m if m.starts_with('-') => match value {
                    Some(v) => v,
                    None => expand(&m[1..], vars, escape)?,
                },
                m if m.starts_with('+') => match value {
                    Some(_) => expand(&m[1..], vars, escape)?,
                    None => String::new(),
                },
                m if m.starts_with(":?") => match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => return Err(format!("{name}: {}", &m[2..])),
                },
                m => return Err(format!("unsupported modifier ({m}) in substitution")),
            };
            Ok((result, taken))
        }
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            let len = rest
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                .unwrap_or(rest.len());
            let name: String = rest[..len].iter().collect();
            Ok((lookup(&name).unwrap_or_default(), len))
        }
        // A lone `$` stays.
        _ => Ok(("$".into(), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn instructions_with_continuations_comments_and_forms() {
        let f = parse(
            "# escape=\\\n\n# a comment\nARG BASE=busybox\nFROM $BASE AS build\nRUN echo a \\\n  # inside\n  && echo b\nCMD [\"sh\", \"-c\", \"echo hi\"]\nCOPY --chown=1:2 --from=build a b /dst/\ncmd echo shell\n",
        )
        .unwrap();
        let k: Vec<&str> = f.instructions.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(k, ["ARG", "FROM", "RUN", "CMD", "COPY", "CMD"]);
        assert_eq!(f.instructions[2].original, "RUN echo a   && echo b");
        assert_eq!(f.instructions[2].line, 6);
        assert_eq!(
            f.instructions[3].args,
            Args::Json(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(f.instructions[4].flag("chown"), Some("1:2"));
        assert_eq!(f.instructions[4].flag("from"), Some("build"));
        assert_eq!(f.instructions[4].args, Args::Shell("a b /dst/".into()));
        assert_eq!(f.instructions[5].args, Args::Shell("echo shell".into()));
    }

    #[test]
    fn errors_name_their_line() {
        let e = parse("FROM busybox\nFOO bar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: unknown instruction: FOO"
        );
        let e = parse("RUN true\nFROM busybox\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(
            parse("FROM busybox\nWORKDIR\n").unwrap_err().message,
            "WORKDIR requires at least one argument"
        );
        let f = parse("# escape=`\nFROM busybox\nRUN echo a `\n b\n").unwrap();
        assert_eq!(f.escape, '`');
        assert_eq!(f.instructions[1].original, "RUN echo a  b");
    }

    #[test]
    fn variables_expand_as_moby_does() {
        let v = vars(&[("A", "1"), ("EMPTY", ""), ("NAME", "world")]);
        let e = |s: &str| expand(s, &v, '\\').unwrap();
        assert_eq!(e("$A-${A}"), "1-1");
        assert_eq!(
            e("${NOPE:-dflt} ${A:-x} ${EMPTY:-y} ${EMPTY-z}"),
            "dflt 1 y "
        );
        assert_eq!(e("${A:+set} ${NOPE:+set}."), "set .");
        assert_eq!(e("'$A' \"$A\" \\$A"), "$A 1 $A");
        assert_eq!(e("\"hello $NAME\""), "hello world");
        assert_eq!(e("cost$"), "cost$");
    }

    #[test]
    fn name_value_pairs_and_the_legacy_form() {
        assert_eq!(
            name_values("ENV", "A=1 B=\"two words\"", '\\').unwrap(),
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "\"two words\"".to_string())
            ]
        );
        assert_eq!(
            name_values("ENV", "PATH /a b", '\\').unwrap(),
            [("PATH".to_string(), "/a b".to_string())]
        );
        assert!(name_values("ENV", "A=1 B", '\\').is_err());
    }
}
