//! The classic image builder (`POST /build`): a Dockerfile read with moby's grammar, run
//! step by step on containerd. `RUN` runs in a container of the previous step's image and
//! its changes become a layer (containerd's differ); `COPY`/`ADD` unpack into a container's
//! root through the same confined extraction `docker cp` uses; other instructions edit the
//! config. Each step's image is kept, and a step whose parent, instruction and (for `COPY`)
//! files are unchanged is taken from the cache.

pub mod context;
pub mod dockerfile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use tokio::sync::mpsc;

use crate::container::spec::{ContainerConfig, Healthcheck, HostConfig};
use crate::container::{CreateRequest, LogsRequest, WaitCondition};
use crate::image::document::{History, ImageDocument};
use crate::image::store::ResolvedImage;
use crate::{Engine, Error, Result};
use dockerfile::{Args, Instruction};

/// `POST /build`, decoded.
#[derive(Clone, Debug, Default)]
pub struct BuildRequest {
    pub tags: Vec<String>,
    /// Path of the Dockerfile inside the context.
    pub dockerfile: String,
    /// `--build-arg`: a name without value takes it from the environment (none here).
    pub build_args: BTreeMap<String, Option<String>>,
    pub labels: BTreeMap<String, String>,
    pub target: String,
    pub no_cache: bool,
    /// Remove intermediate containers after a successful step (`rm`).
    pub remove: bool,
    /// Remove them even after a failed one (`forcerm`).
    pub force_remove: bool,
    pub network_mode: String,
    /// Host config for RUN containers from the query (`extrahosts`, `shmsize`, `memory`,
    /// `memswap`, `cpushares`, `cpusetcpus`, `cpuperiod`, `cpuquota`), in moby's field names.
    pub run_host_config: HostConfig,
    /// Pull every `FROM` image, even one already here (`pull`).
    pub pull: bool,
    /// `X-Registry-Config`: credentials by registry, for base images that must be pulled.
    pub registry_auth: BTreeMap<String, crate::image::pull::Credentials>,
    /// `cachefrom`: when given, only steps these images (or their parents) hold are taken
    /// from the cache, as moby's classic builder does.
    pub cache_from: Vec<String>,
}

/// What the build tells the client as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A `{"stream": …}` line.
    Stream(String),
    /// `{"aux": {"ID": …}}`.
    Id(String),
}

/// Why a build stopped; `code` is a failed RUN's exit code (the CLI exits with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildFailure {
    pub message: String,
    pub code: Option<i64>,
}

/// One build stage while it runs.
struct Stage {
    name: String,
    image: ResolvedImage,
    /// The whole image config (history and all); `config` is its container config.
    config: ImageDocument,
    shell: Vec<String>,
    /// ARGs declared in this stage, with their values.
    args: BTreeMap<String, String>,
    /// Whether this stage set CMD itself (ENTRYPOINT resets an inherited one).
    cmd_set: bool,
}

impl Stage {
    fn run_config(&mut self) -> &mut ContainerConfig {
        &mut self.config.config
    }

    fn env(&self) -> Vec<String> {
        self.config.config.env().to_vec()
    }

    /// Variables for expansion: the stage's ARGs, then its ENV (which wins).
    fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.args.clone();
        for e in self.env() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }
}

fn short(id: &str) -> &str {
    crate::image::store::short_id(id)
}

fn now() -> String {
    crate::container::logs::now_rfc3339_nano()
}

impl Engine {
    /// Images the builder keeps as the results of single steps (its cache). Without a name
    /// they are intermediate images, which `docker images` leaves out unless `-a`.
    pub fn build_intermediates(&self) -> std::collections::HashSet<String> {
        self.build_cache.ids()
    }

    /// `docker image prune`: as [`Engine::prune_images`], but a dangling-image prune keeps
    /// the builder's step images, which are its cache as an image's parents are on dockerd
    /// (`docker builder prune` removes them).
    pub async fn prune_images_keeping_build_cache(
        &self,
        all: bool,
        keep: impl Fn(&crate::image::store::ImageEntry) -> bool,
    ) -> Result<(Vec<crate::image::store::RemovedImage>, i64)> {
        let steps = match all {
            true => Default::default(),
            false => self.build_cache.ids(),
        };
        self.prune_images(all, |e| steps.contains(&e.resolved.id) || keep(e))
            .await
    }

    /// `docker builder prune`: removes the builder's step images that have no name and no
    /// container, and forgets them; returns their IDs and the bytes freed.
    pub async fn prune_build_cache(&self) -> Result<(Vec<String>, i64)> {
        let steps = self.build_cache.ids();
        let (removed, reclaimed) = self
            .prune_images(false, |e| !steps.contains(&e.resolved.id))
            .await?;
        let deleted: Vec<String> = removed
            .into_iter()
            .filter_map(|r| match r {
                crate::image::store::RemovedImage::Deleted(id) => Some(id),
                crate::image::store::RemovedImage::Untagged(_) => None,
            })
            .collect();
        // Entries whose image is gone are useless; those still named are kept.
        let images: std::collections::HashSet<String> = self
            .images()
            .list()
            .await?
            .iter()
            .map(|e| e.resolved.id.clone())
            .collect();
        self.build_cache.retain(|id| images.contains(id));
        Ok((deleted, reclaimed))
    }

    /// Builds `context` (a tar, possibly gzipped) as `req` says; progress goes to `out`.
    /// Returns the image ID.
    pub async fn build(
        &self,
        req: BuildRequest,
        context: impl std::io::Read + Send + 'static,
        out: mpsc::Sender<Progress>,
    ) -> std::result::Result<String, BuildFailure> {
        let code = std::sync::atomic::AtomicI64::new(0);
        self.build_context(req, context, out, &code)
            .await
            .map_err(|e| BuildFailure {
                message: e.message,
                code: match code.load(std::sync::atomic::Ordering::SeqCst) {
                    0 => None,
                    c => Some(c),
                },
            })
    }

    async fn build_context(
        &self,
        req: BuildRequest,
        context: impl std::io::Read + Send + 'static,
        out: mpsc::Sender<Progress>,
        code: &std::sync::atomic::AtomicI64,
    ) -> Result<String> {
        let dir = self
            .images()
            .scratch_dir()
            .join(format!("build-{:016x}", rand::random::<u64>()));
        let unpack_dir = dir.clone();
        let unpacked = tokio::task::spawn_blocking(move || context::unpack(context, &unpack_dir))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let result = match unpacked {
            Ok(()) => self.build_in(&req, &dir, &out, code).await,
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_dir_all(&dir).await;
        result
    }

    async fn build_in(
        &self,
        req: &BuildRequest,
        ctx: &Path,
        out: &mpsc::Sender<Progress>,
        exit_code: &std::sync::atomic::AtomicI64,
    ) -> Result<String> {
        let say = |s: String| async move {
            let _ = out.send(Progress::Stream(s)).await;
        };
        let name = if req.dockerfile.is_empty() {
            "Dockerfile"
        } else {
            req.dockerfile.as_str()
        };
        let text = context::inside(ctx, name)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .ok_or_else(|| Error::invalid(format!("Cannot locate specified Dockerfile: {name}")))?;
        let df = dockerfile::parse(&text).map_err(|e| Error::invalid(e.to_string()))?;
        let ignore = context::Ignore::load(ctx);
        let cache_sources = if req.cache_from.is_empty() {
            None
        } else {
            Some(self.cache_sources(&req.cache_from).await)
        };
        // With a target, dockerd counts the steps up to the end of that stage only.
        let total = target_end(&df.instructions, &req.target, df.escape);
        let mut meta_args: BTreeMap<String, String> = BTreeMap::new();
        let mut done: Vec<Stage> = Vec::new();
        let mut current: Option<Stage> = None;
        let mut last_from_target = false;
        for (n, ins) in df.instructions.iter().enumerate() {
            if ins.keyword == "FROM" && last_from_target {
                break;
            }
            if out.is_closed() {
                return Err(Error::invalid(
                    "the build was canceled: the client went away",
                ));
            }
            say(format!("Step {}/{total} : {}\n", n + 1, ins.original)).await;
            if ins.keyword == "FROM" {
                if let Some(s) = current.take() {
                    done.push(s);
                }
                let mut stage = self
                    .from(ins, &meta_args, &done, df.escape, req, out)
                    .await?;
                let triggers: Vec<String> =
                    stage.config.config.on_build.clone().unwrap_or_default();
                if !triggers.is_empty() {
                    // The base image's ONBUILD triggers run first; the result has none.
                    say(format!(
                        "# Executing {} build trigger{}\n",
                        triggers.len(),
                        if triggers.len() == 1 { "" } else { "s" }
                    ))
                    .await;
                    stage.run_config().on_build = None;
                    let stages: Vec<(String, String)> = done
                        .iter()
                        .map(|s| (s.name.clone(), s.image.id.clone()))
                        .collect();
                    let step = StepCtx {
                        req,
                        ctx,
                        ignore: &ignore,
                        escape: df.escape,
                        exit_code,
                        stages: &stages,
                        cache_sources: cache_sources.as_ref(),
                    };
                    for t in &triggers {
                        let trigger = dockerfile::parse(&format!("FROM scratch\n{t}"))
                            .map_err(|e| Error::invalid(e.to_string()))?
                            .instructions
                            .pop()
                            .ok_or_else(|| {
                                Error::invalid(format!("invalid ONBUILD trigger: {t}"))
                            })?;
                        self.step(&mut stage, &trigger, &step, out).await?;
                    }
                }
                if stage.image.config.rootfs.diff_ids.is_empty() {
                    // The empty image of `FROM scratch` is the builder's, hidden like steps;
                    // dockerd shows no ID for it.
                    self.build_cache
                        .insert("scratch".into(), stage.image.id.clone());
                    say(" ---> \n".into()).await;
                } else {
                    say(format!(" ---> {}\n", short(&stage.image.id))).await;
                }
                if !req.target.is_empty() && stage.name == req.target {
                    last_from_target = true;
                }
                current = Some(stage);
                continue;
            }
            let Some(stage) = current.as_mut() else {
                // ARG before the first FROM.
                let (k, v) = declare_arg(ins, &BTreeMap::new(), &req.build_args, df.escape)?;
                meta_args.insert(k, v);
                continue;
            };
            let stages: Vec<(String, String)> = done
                .iter()
                .map(|s| (s.name.clone(), s.image.id.clone()))
                .collect();
            let step = StepCtx {
                req,
                ctx,
                ignore: &ignore,
                escape: df.escape,
                exit_code,
                stages: &stages,
                cache_sources: cache_sources.as_ref(),
            };
            self.step(stage, ins, &step, out).await?;
        }
        let mut stage =
            current.ok_or_else(|| Error::invalid("no build stage in current context"))?;
        if !req.target.is_empty() && stage.name != req.target {
            return Err(Error::invalid(format!(
                "failed to reach build target {} in Dockerfile",
                req.target
            )));
        }
        if !req.labels.is_empty() {
            for (k, v) in &req.labels {
                stage.run_config().set_label(k, v);
            }
            self.store_step(
                &mut stage,
                None,
                "/bin/sh -c #(nop)  LABEL build labels",
                None,
            )
            .await?;
        }
        let id = stage.image.id.clone();
        let _ = out.send(Progress::Id(id.clone())).await;
        say(format!("Successfully built {}\n", short(&id))).await;
        for t in &req.tags {
            let (repo, tag) = split_tag(t);
            self.images().tag(&id, repo, tag).await?;
            say(format!("Successfully tagged {}\n", display_tag(t))).await;
        }
        Ok(id)
    }

    /// `FROM image [AS name]`: an earlier stage, or an image in the store.
    async fn from(
        &self,
        ins: &Instruction,
        meta_args: &BTreeMap<String, String>,
        done: &[Stage],
        escape: char,
        req: &BuildRequest,
        out: &mpsc::Sender<Progress>,
    ) -> Result<Stage> {
        let words =
            dockerfile::expand_words(&ins.text(), meta_args, escape).map_err(Error::invalid)?;
        let (base, name) = match words.as_slice() {
            [b] => (b.clone(), String::new()),
            [b, as_, n] if as_.eq_ignore_ascii_case("as") => (b.clone(), n.to_ascii_lowercase()),
            _ => {
                return Err(Error::invalid(format!(
                    "dockerfile parse error line {}: FROM requires either one or three arguments",
                    ins.line
                )));
            }
        };
        if let Some(s) = done
            .iter()
            .find(|s| !s.name.is_empty() && s.name == base.to_ascii_lowercase())
        {
            return Ok(Stage {
                name,
                image: s.image.clone(),
                config: s.config.clone(),
                shell: s.shell.clone(),
                args: BTreeMap::new(),
                cmd_set: false,
            });
        }
        let image = if base == "scratch" {
            self.scratch_image().await?
        } else {
            match self.images().find(&base).await {
                Ok(found) if !req.pull => found.resolved,
                Ok(_) => self.pull_base(&base, req, out).await?,
                Err(e) if e.kind == crate::ErrorKind::NotFound => {
                    self.pull_base(&base, req, out).await?
                }
                Err(e) => return Err(e),
            }
        };
        let config = ImageDocument::parse(&image.config_bytes)?;
        let shell = config
            .config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()]);
        Ok(Stage {
            name,
            image,
            config,
            shell,
            args: BTreeMap::new(),
            cmd_set: false,
        })
    }

    /// Pulls a base image with the credentials `X-Registry-Config` has for its registry;
    /// the pull's progress shows in the build output.
    async fn pull_base(
        &self,
        base: &str,
        req: &BuildRequest,
        out: &mpsc::Sender<Progress>,
    ) -> Result<ResolvedImage> {
        let domain = crate::image::reference::Reference::parse_normalized(base)
            .map(|r| r.domain().to_string())
            .map_err(Error::from)?;
        let credentials = req
            .registry_auth
            .iter()
            .find(|(k, _)| {
                let host = k
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or("");
                host == domain || (domain == "docker.io" && host == "index.docker.io")
            })
            .map(|(_, c)| c.clone());
        let (tx, mut rx) = mpsc::channel::<crate::image::pull::Progress>(64);
        let forward = {
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(p) = rx.recv().await {
                    let line = match &p.id {
                        Some(id) => format!("{id}: {}\n", p.status),
                        None => format!("{}\n", p.status),
                    };
                    let _ = out.send(Progress::Stream(line)).await;
                }
            })
        };
        let pulled = self.images().pull(base, credentials, tx).await;
        let _ = forward.await;
        let id = pulled?;
        Ok(self.images().find(&id).await?.resolved)
    }

    /// An empty image to start a `FROM scratch` stage on: no layers, an empty config.
    async fn scratch_image(&self) -> Result<ResolvedImage> {
        let config = ImageDocument::for_host();
        let id = self.store_layered(&[], vec![], config, None, &[]).await?;
        Ok(self.images().find(&id).await?.resolved)
    }

    /// Stores the stage's config (with `layer` on top when there is one) as a new image,
    /// which becomes the stage's image; `key` records it in the cache.
    async fn store_step(
        &self,
        stage: &mut Stage,
        layer: Option<&containerd_client::types::Descriptor>,
        created_by: &str,
        key: Option<String>,
    ) -> Result<()> {
        let now = now();
        stage.config.created = Some(now.clone());
        stage.config.history.push(History {
            created: Some(now),
            created_by: Some(created_by.to_string()),
            empty_layer: layer.is_none(),
            ..Default::default()
        });
        let id = self
            .store_derived(&stage.image, stage.config.clone(), layer, &[])
            .await?;
        stage.image = self.images().find(&id).await?.resolved;
        if let Some(key) = key {
            self.build_cache.insert(key, id);
        }
        Ok(())
    }

    async fn step(
        &self,
        stage: &mut Stage,
        ins: &Instruction,
        step: &StepCtx<'_>,
        out: &mpsc::Sender<Progress>,
    ) -> Result<()> {
        let say = |s: String| async move {
            let _ = out.send(Progress::Stream(s)).await;
        };
        let vars = stage.vars();
        let expand = |s: &str| dockerfile::expand(s, &vars, step.escape).map_err(Error::invalid);
        // What makes the step's result: its parent, the instruction, and for COPY/ADD the
        // files' content.
        let files = match ins.keyword.as_str() {
            "COPY" | "ADD" => {
                let workdir = Some(stage.config.config.working_dir())
                    .filter(|w| !w.is_empty())
                    .unwrap_or("/")
                    .to_string();
                if ins.flag("from").is_some() {
                    Some(self.collect_from(ins, step, &vars, &workdir).await?)
                } else {
                    Some(context::collect(ins, step, &vars, &workdir)?)
                }
            }
            _ => None,
        };
        let run_args: Vec<String> = stage.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let key = cache_key(
            &stage.image.id,
            ins,
            &run_args,
            files.as_ref().map(|f| f.digest.as_str()),
        );
        if !step.req.no_cache
            && let Some(id) = self.build_cache.get(&key)
            && step.cache_sources.is_none_or(|s| s.contains(&id))
            && let Ok(entry) = self.images().find(&id).await
        {
            stage.image = entry.resolved;
            stage.config = ImageDocument::parse(&stage.image.config_bytes)?;
            apply_stage_only(stage, ins, step)?;
            say(" ---> Using cache\n".into()).await;
            say(format!(" ---> {}\n", short(&stage.image.id))).await;
            return Ok(());
        }
        match ins.keyword.as_str() {
            "RUN" => self.run_step(stage, ins, step, &run_args, key, out).await?,
            "COPY" | "ADD" => {
                let files = files.expect("collected above");
                self.copy_step(stage, ins, step, files, key).await?;
            }
            _ => {
                let created_by = edit_config(stage, ins, step, &expand)?;
                self.store_step(stage, None, &created_by, Some(key)).await?;
            }
        }
        say(format!(" ---> {}\n", short(&stage.image.id))).await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        stage: &mut Stage,
        ins: &Instruction,
        step: &StepCtx<'_>,
        run_args: &[String],
        key: String,
        out: &mpsc::Sender<Progress>,
    ) -> Result<()> {
        if ins.flag("mount").is_some() {
            return Err(Error::invalid("the --mount option requires BuildKit"));
        }
        let cmd = match &ins.args {
            Args::Json(v) => v.clone(),
            Args::Shell(s) => stage.shell.iter().cloned().chain([s.clone()]).collect(),
        };
        let mut env = stage.env();
        env.extend(run_args.iter().cloned());
        let config = &stage.config.config;
        let run = ContainerConfig {
            image: Some(stage.image.id.clone()),
            entrypoint: Some(cmd.clone()),
            cmd: Some(vec![]),
            env: Some(env),
            user: config.user.clone(),
            working_dir: config.working_dir.clone(),
            ..Default::default()
        };
        let mode = if step.req.network_mode.is_empty() {
            "default"
        } else {
            step.req.network_mode.as_str()
        };
        let host = HostConfig {
            network_mode: Some(mode.to_string()),
            ..step.req.run_host_config.clone()
        };
        let cid = self.step_container(run, host).await?;
        let _ = out
            .send(Progress::Stream(format!(
                " ---> Running in {}\n",
                &cid[..12]
            )))
            .await;
        let result = self.run_container(&cid, out).await;
        let code = match result {
            Ok(code) => code,
            Err(e) => {
                let _ = self.containers().remove(&cid, true).await;
                return Err(e);
            }
        };
        if code != 0 {
            step.exit_code
                .store(code, std::sync::atomic::Ordering::SeqCst);
            if step.req.force_remove {
                let _ = self.containers().remove(&cid, true).await;
            }
            return Err(Error::invalid(format!(
                "The command '{}' returned a non-zero code: {code}",
                cmd.join(" ")
            )));
        }
        let created_by = if run_args.is_empty() {
            cmd.join(" ")
        } else {
            format!(
                "|{} {} {}",
                run_args.len(),
                run_args.join(" "),
                cmd.join(" ")
            )
        };
        let stored = self.commit_container(stage, &cid, &created_by, key).await;
        if step.req.remove || step.req.force_remove {
            let _ = self.containers().remove(&cid, true).await;
            let _ = out
                .send(Progress::Stream(format!(
                    "Removing intermediate container {}\n",
                    &cid[..12]
                )))
                .await;
        }
        stored
    }

    /// Creates a step's container (nameless, no endpoints asked for); returns its ID.
    async fn step_container(&self, config: ContainerConfig, host: HostConfig) -> Result<String> {
        let (cid, _) = self
            .containers()
            .create(
                self.images(),
                CreateRequest {
                    name: None,
                    config,
                    host_config: host,
                    endpoints: Default::default(),
                    read_only_non_recursive: false,
                    platform: String::new(),
                },
            )
            .await?;
        Ok(cid)
    }

    /// A container of `image_id` that is never started, for reading or writing its files.
    async fn files_container(&self, image_id: &str) -> Result<String> {
        let run = ContainerConfig {
            image: Some(image_id.to_string()),
            entrypoint: Some(vec!["/bin/true".into()]),
            ..Default::default()
        };
        let host = HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        };
        self.step_container(run, host).await
    }

    /// The images named by `cachefrom` (those that exist) and all their parents.
    async fn cache_sources(&self, names: &[String]) -> std::collections::HashSet<String> {
        let mut out = std::collections::HashSet::new();
        for name in names {
            let mut next = match self.images().find(name).await {
                Ok(e) => Some(e.resolved),
                Err(_) => None,
            };
            while let Some(image) = next.take() {
                if !out.insert(image.id.clone()) || image.parent.is_empty() {
                    break;
                }
                next = self
                    .images()
                    .find(&image.parent)
                    .await
                    .ok()
                    .map(|e| e.resolved);
            }
        }
        out
    }

    /// Starts the step's container, streams its output and returns its exit code.
    async fn run_container(&self, cid: &str, out: &mpsc::Sender<Progress>) -> Result<i64> {
        let exited = self.containers().wait(cid, WaitCondition::NextExit)?;
        self.containers().start(cid).await?;
        let (_, mut logs) = self.containers().logs(
            cid,
            LogsRequest {
                stdout: true,
                stderr: true,
                follow: true,
                since_nanos: None,
                until_nanos: None,
                tail: None,
            },
        )?;
        let canceled = || Error::invalid("the build was canceled: the client went away");
        loop {
            // A client that goes away (Ctrl-C) stops the step; the caller removes it.
            tokio::select! {
                batch = logs.recv() => match batch {
                    Some(batch) => for entry in batch {
                        let mut line = String::from_utf8_lossy(&entry.line).into_owned();
                        // dockerd shows a step's stderr in red (ANSI 91).
                        if entry.stream == crate::container::io::StreamKind::Stderr {
                            line = format!("\x1b[91m{line}\x1b[0m");
                        }
                        if out.send(Progress::Stream(line)).await.is_err() {
                            return Err(canceled());
                        }
                    },
                    None => break,
                },
                _ = out.closed() => return Err(canceled()),
            }
        }
        Ok(exited.await)
    }

    /// The container's changes as the stage's next layer.
    async fn commit_container(
        &self,
        stage: &mut Stage,
        cid: &str,
        created_by: &str,
        key: String,
    ) -> Result<()> {
        let lease = self.containerd.create_lease("build").await?;
        let layer = self.diff_container(&lease, cid).await;
        let result = match layer {
            Ok(layer) => {
                self.store_step(stage, Some(&layer), created_by, Some(key))
                    .await
            }
            Err(e) => Err(e),
        };
        self.containerd.delete_lease(&lease).await;
        result
    }

    async fn copy_step(
        &self,
        stage: &mut Stage,
        ins: &Instruction,
        step: &StepCtx<'_>,
        files: context::Files,
        key: String,
    ) -> Result<()> {
        let cid = self.files_container(&stage.image.id).await?;
        let result = async {
            // A destination that is a directory in the image takes the files inside it.
            let into_dir = files.dest_is_dir
                || self
                    .containers()
                    .stat_path(&cid, &files.dest)
                    .await
                    .is_ok_and(|s| s.mode & (1 << 31) != 0);
            let (uid, gid) = self.chown_for(ins, &cid).await?;
            let tar = context::tar_for(&files, into_dir, uid, gid, step.ignore)?;
            self.containers()
                .extract_to_dir(&cid, "/", false, false, std::io::Cursor::new(tar))
                .await?;
            let created_by = format!(
                "/bin/sh -c #(nop) {} {}:{} in {} ",
                ins.keyword,
                if files.entries.len() == 1 && !files.entries[0].is_dir {
                    "file"
                } else {
                    "dir"
                },
                files.digest.trim_start_matches("sha256:"),
                files.dest
            );
            self.commit_container(stage, &cid, &created_by, key).await
        }
        .await;
        let _ = self.containers().remove(&cid, true).await;
        result
    }

    /// `COPY --from=stage|image`: the sources read out of a container of that image (as
    /// `docker cp` reads them), hashed for the cache.
    async fn collect_from(
        &self,
        ins: &Instruction,
        step: &StepCtx<'_>,
        vars: &BTreeMap<String, String>,
        workdir: &str,
    ) -> Result<context::Files> {
        use sha2::Digest as _;
        let from = ins.flag("from").unwrap_or("");
        let by_name = step
            .stages
            .iter()
            .find(|(n, _)| !n.is_empty() && n.eq_ignore_ascii_case(from));
        let image_id = match (by_name, from.parse::<usize>()) {
            (Some((_, id)), _) => id.clone(),
            (None, Ok(i)) => step
                .stages
                .get(i)
                .map(|(_, id)| id.clone())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "invalid from flag value {from}: refers to current build stage"
                    ))
                })?,
            (None, Err(_)) => self.images().find(from).await?.resolved.id,
        };
        let (sources, dest, dest_is_dir) = context::copy_words(ins, step.escape, vars, workdir)?;
        let chmod = context::chmod_flag(ins)?;
        let cid = self.files_container(&image_id).await?;
        let result = async {
            let mut hash = sha2::Sha256::new();
            hash.update(format!("{dest}{:?}{chmod:?}", ins.flag("chown")).as_bytes());
            let mut archives = Vec::new();
            for src in &sources {
                if src.contains(['*', '?']) {
                    return Err(Error::invalid(format!(
                        "{} --from with wildcards is not supported by berthd's builder yet",
                        ins.keyword
                    )));
                }
                let abs = if src.starts_with('/') {
                    src.clone()
                } else {
                    format!("/{src}")
                };
                let (tx, mut rx) = mpsc::channel(8);
                let stat = self
                    .containers()
                    .archive_path(&cid, &abs, tx)
                    .await
                    .map_err(|e| match e.kind {
                        crate::ErrorKind::NotFound => Error::invalid(format!(
                            "{} failed: stat {abs}: file does not exist",
                            ins.keyword
                        )),
                        _ => e,
                    })?;
                let mut bytes = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    bytes.extend(chunk?);
                }
                hash.update(abs.as_bytes());
                hash.update(&bytes);
                archives.push((stat.name, stat.mode & (1 << 31) != 0, bytes));
            }
            Ok(context::Files {
                entries: vec![],
                from_image: archives,
                dest,
                dest_is_dir,
                digest: format!("sha256:{:x}", hash.finalize()),
                chmod,
                add: false,
            })
        }
        .await;
        let _ = self.containers().remove(&cid, true).await;
        result
    }

    /// `--chown=user[:group]`: numbers, or names from the passwd and group files of the
    /// image the files go into (`cid` is a container of it).
    async fn chown_for(&self, ins: &Instruction, cid: &str) -> Result<(u32, u32)> {
        let Some(spec) = ins.flag("chown").filter(|s| !s.is_empty()) else {
            return Ok((0, 0));
        };
        let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
        if let Ok(uid) = u.parse::<u32>() {
            match g.parse::<u32>() {
                Ok(gid) => return Ok((uid, gid)),
                Err(_) if g.is_empty() => return Ok((uid, uid)),
                Err(_) => {}
            }
        }
        let mounts = self.containerd.snapshot_mounts(cid).await?;
        let dirs = mounts
            .first()
            .map(|m| crate::container::setup::overlay_dirs(&m.options))
            .unwrap_or_default();
        let (uid, gid, _) = crate::container::setup::resolve_user(spec, &dirs)?;
        // A user alone takes its own group, as moby's chown does.
        Ok((uid, gid))
    }
}

/// What every step of one build shares.
pub(crate) struct StepCtx<'a> {
    pub req: &'a BuildRequest,
    pub ctx: &'a Path,
    pub ignore: &'a context::Ignore,
    pub escape: char,
    /// A failed RUN's exit code, for the client.
    pub exit_code: &'a std::sync::atomic::AtomicI64,
    /// The stages done so far: name (maybe empty) and image ID, in order.
    pub stages: &'a [(String, String)],
    /// With `cachefrom`: the images a cached step may resolve to.
    pub cache_sources: Option<&'a std::collections::HashSet<String>>,
}

/// How many instructions run: all, or with `target` those up to the end of its stage.
fn target_end(instructions: &[Instruction], target: &str, escape: char) -> usize {
    if target.is_empty() {
        return instructions.len();
    }
    let stage_name = |ins: &Instruction| {
        let words =
            dockerfile::expand_words(&ins.text(), &BTreeMap::new(), escape).unwrap_or_default();
        match words.as_slice() {
            [_, as_, n] if as_.eq_ignore_ascii_case("as") => n.to_ascii_lowercase(),
            _ => String::new(),
        }
    };
    let Some(start) = instructions
        .iter()
        .position(|i| i.keyword == "FROM" && stage_name(i) == target.to_ascii_lowercase())
    else {
        return instructions.len();
    };
    instructions[start + 1..]
        .iter()
        .position(|i| i.keyword == "FROM")
        .map_or(instructions.len(), |p| start + 1 + p)
}

/// `ARG name[=default]`: its value (a `--build-arg` wins over the default).
fn declare_arg(
    ins: &Instruction,
    vars: &BTreeMap<String, String>,
    build_args: &BTreeMap<String, Option<String>>,
    escape: char,
) -> Result<(String, String)> {
    let text = ins.text();
    let (name, default) = match text.split_once('=') {
        Some((n, d)) => (
            n.trim().to_string(),
            dockerfile::expand(d.trim(), vars, escape).map_err(Error::invalid)?,
        ),
        None => (text.trim().to_string(), String::new()),
    };
    let value = match build_args.get(&name) {
        Some(Some(v)) => v.clone(),
        _ => default,
    };
    Ok((name, value))
}

/// What a cached step still changes in the stage (its ARGs, SHELL, and whether CMD was set).
fn apply_stage_only(stage: &mut Stage, ins: &Instruction, step: &StepCtx<'_>) -> Result<()> {
    match ins.keyword.as_str() {
        "ARG" => {
            let (k, v) = declare_arg(ins, &stage.vars(), &step.req.build_args, step.escape)?;
            stage.args.insert(k, v);
        }
        "SHELL" => {
            if let Args::Json(v) = &ins.args {
                stage.shell = v.clone();
            }
        }
        "CMD" => stage.cmd_set = true,
        _ => {}
    }
    Ok(())
}

/// Applies a config-only instruction; returns its history line.
fn edit_config(
    stage: &mut Stage,
    ins: &Instruction,
    step: &StepCtx<'_>,
    expand: &dyn Fn(&str) -> Result<String>,
) -> Result<String> {
    let escape = step.escape;
    let command = |stage: &Stage| -> Vec<String> {
        match &ins.args {
            Args::Json(v) => v.clone(),
            Args::Shell(s) => stage.shell.iter().cloned().chain([s.clone()]).collect(),
        }
    };
    let nop = |what: String| format!("/bin/sh -c #(nop)  {what}");
    Ok(match ins.keyword.as_str() {
        "ENV" | "LABEL" => {
            let pairs = dockerfile::name_values(&ins.keyword, &ins.text(), escape)
                .map_err(Error::invalid)?;
            let mut shown = Vec::new();
            for (k, v) in pairs {
                let v = expand(&v)?;
                let k = expand(&k)?;
                shown.push(format!("{k}={v}"));
                if ins.keyword == "ENV" {
                    stage.run_config().set_env(&k, &v);
                } else {
                    stage.run_config().set_label(&k, &v);
                }
            }
            nop(format!("{} {}", ins.keyword, shown.join(" ")))
        }
        "CMD" => {
            let c = command(stage);
            let shown = go_list(&c);
            stage.run_config().cmd = Some(c);
            stage.cmd_set = true;
            nop(format!("CMD {shown}"))
        }
        "ENTRYPOINT" => {
            let c = command(stage);
            let shown = go_list(&c);
            stage.run_config().entrypoint = Some(c);
            if !stage.cmd_set {
                stage.run_config().cmd = None;
            }
            nop(format!("ENTRYPOINT {shown}"))
        }
        "EXPOSE" => {
            let ports = dockerfile::expand_words(&ins.text(), &stage.vars(), escape)
                .map_err(Error::invalid)?;
            let mut shown = Vec::new();
            for p in ports {
                let key = if p.contains('/') {
                    p.to_ascii_lowercase()
                } else {
                    format!("{p}/tcp")
                };
                stage.run_config().expose(&key);
                shown.push(key);
            }
            nop(format!("EXPOSE {}", shown.join(" ")))
        }
        "VOLUME" => {
            let paths = match &ins.args {
                Args::Json(v) => v.iter().map(|p| expand(p)).collect::<Result<Vec<_>>>()?,
                Args::Shell(_) => dockerfile::expand_words(&ins.text(), &stage.vars(), escape)
                    .map_err(Error::invalid)?,
            };
            for p in &paths {
                stage.run_config().declare_volume(p);
            }
            nop(format!("VOLUME {}", go_list(&paths)))
        }
        "USER" => {
            let u = expand(&ins.text())?;
            stage.run_config().user = Some(u.clone());
            nop(format!("USER {u}"))
        }
        "WORKDIR" => {
            let w = expand(&ins.text())?;
            let base = stage
                .config
                .config
                .working_dir
                .clone()
                .unwrap_or_else(|| "/".into());
            let dir = if w.starts_with('/') {
                w.clone()
            } else {
                format!("{}/{w}", base.trim_end_matches('/'))
            };
            stage.run_config().working_dir = Some(dir.clone());
            format!("/bin/sh -c #(nop) WORKDIR {dir}")
        }
        "STOPSIGNAL" => {
            let s = expand(&ins.text())?;
            stage.run_config().stop_signal = Some(s.clone());
            nop(format!("STOPSIGNAL {s}"))
        }
        "ONBUILD" => {
            let text = ins.text();
            let trigger = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(Error::invalid(format!(
                    "{trigger} isn't allowed as an ONBUILD trigger"
                )));
            }
            stage.run_config().add_on_build(&text);
            nop(format!("ONBUILD {text}"))
        }
        "SHELL" => {
            let Args::Json(v) = &ins.args else {
                return Err(Error::invalid(
                    "SHELL requires the arguments to be in JSON form",
                ));
            };
            stage.shell = v.clone();
            stage.run_config().shell = Some(v.clone());
            nop(format!("SHELL {}", go_list(v)))
        }
        "MAINTAINER" => {
            let m = ins.text();
            stage.config.author = Some(m.clone());
            nop(format!("MAINTAINER {m}"))
        }
        "ARG" => {
            let (k, v) = declare_arg(ins, &stage.vars(), &step.req.build_args, escape)?;
            stage.args.insert(k.clone(), v.clone());
            nop(format!("ARG {}", ins.text()))
        }
        "HEALTHCHECK" => {
            let hc = healthcheck(ins)?;
            let shown = go_list(hc.test.as_deref().unwrap_or_default());
            stage.run_config().healthcheck = Some(hc);
            nop(format!("HEALTHCHECK &{{{shown}}}"))
        }
        other => return Err(Error::invalid(format!("unknown instruction: {other}"))),
    })
}

/// `HEALTHCHECK [--flags] CMD …` or `HEALTHCHECK NONE`.
fn healthcheck(ins: &Instruction) -> Result<Healthcheck> {
    let text = ins.text();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
    if word.eq_ignore_ascii_case("NONE") {
        return Ok(Healthcheck {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
    }
    if !word.eq_ignore_ascii_case("CMD") {
        return Err(Error::invalid(format!(
            "Unknown type \"{word}\" in HEALTHCHECK (try CMD)"
        )));
    }
    let rest = rest.trim();
    let test: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) if rest.starts_with('[') => std::iter::once("CMD".to_string()).chain(v).collect(),
        _ => vec!["CMD-SHELL".to_string(), rest.to_string()],
    };
    let mut hc = Healthcheck {
        test: Some(test),
        ..Default::default()
    };
    for (flag, field) in [
        ("interval", &mut hc.interval),
        ("timeout", &mut hc.timeout),
        ("start-period", &mut hc.start_period),
        ("start-interval", &mut hc.start_interval),
    ] {
        if let Some(v) = ins.flag(flag) {
            let nanos = parse_duration(v)
                .ok_or_else(|| Error::invalid(format!("time: invalid duration \"{v}\"")))?;
            *field = Some(nanos);
        }
    }
    if let Some(r) = ins.flag("retries") {
        let n: i64 = r.parse().map_err(|_| {
            Error::invalid(format!("strconv.ParseInt: parsing \"{r}\": invalid syntax"))
        })?;
        hc.retries = Some(n);
    }
    Ok(hc)
}

/// Go durations as HEALTHCHECK takes them (`30s`, `1m30s`, `500ms`), in nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, after) = rest.split_at(num_end);
        let value: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    Some(total as i64)
}

/// A list as Go's `%q` of a slice prints it in history lines: `["a" "b"]`.
fn go_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|i| serde_json::to_string(i).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// `repo[:tag]` of a `-t` value (a port in a registry host is not a tag).
fn split_tag(t: &str) -> (&str, &str) {
    match t.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (t, ""),
    }
}

/// How dockerd echoes a tag: with `:latest` when none was given.
fn display_tag(t: &str) -> String {
    match split_tag(t) {
        (_, "") => format!("{t}:latest"),
        _ => t.to_string(),
    }
}

fn cache_key(parent: &str, ins: &Instruction, args: &[String], files: Option<&str>) -> String {
    let material = json!({
        "parent": parent,
        "instruction": ins.original,
        "args": args,
        "files": files,
    });
    format!(
        "sha256:{}",
        crate::image::archive::sha256_hex(material.to_string().as_bytes())
    )
}

/// Step results by what made them: held in memory, and kept under
/// `<data-root>/builder/cache.json`, written as each step's image is stored, so builds side
/// by side keep each other's entries and an image prune meanwhile knows the new step images
/// are the builder's.
pub struct BuildCache {
    path: PathBuf,
    entries: std::sync::Mutex<BTreeMap<String, String>>,
}

impl BuildCache {
    pub fn load(data_root: &Path) -> BuildCache {
        let path = data_root.join("builder").join("cache.json");
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        BuildCache {
            path,
            entries: std::sync::Mutex::new(entries),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str) -> Option<String> {
        self.lock().get(key).cloned()
    }

    /// Every image the cache names.
    fn ids(&self) -> std::collections::HashSet<String> {
        self.lock().values().cloned().collect()
    }

    /// Records a step's image; the file follows under the same lock.
    fn insert(&self, key: String, id: String) {
        let mut entries = self.lock();
        entries.insert(key, id);
        self.write(&entries);
    }

    /// Keeps only the entries whose image `keep` accepts.
    fn retain(&self, keep: impl Fn(&String) -> bool) {
        let mut entries = self.lock();
        entries.retain(|_, id| keep(id));
        self.write(&entries);
    }

    fn write(&self, entries: &BTreeMap<String, String>) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(bytes) = serde_json::to_vec(entries) {
            let _ = crate::system::write_atomic(&self.path, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_tags_and_history_lists() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(split_tag("app:1"), ("app", "1"));
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", ""));
        assert_eq!(display_tag("app"), "app:latest");
        assert_eq!(
            go_list(&["cat".into(), "/a b".into()]),
            "[\"cat\" \"/a b\"]"
        );
    }
}
