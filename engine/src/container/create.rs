//! `docker create`: checks and defaults moby applies, the writable layer and its init layer,
//! volumes copied up, and the record written before anything else is made.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::model::{ContainerRecord, State};
use super::networking::EndpointRequest;
use super::policy::{LogConfig, RestartPolicy};
use super::service::{ContainerService, now, random_id};
use super::spec::{self, ContainerConfig, HostConfig};
use super::store::{Container, write_record};
use super::{names, setup};
use crate::image::store::ImageStore;
use crate::oci;
use crate::runtime::content::Lease;
use crate::{Error, ErrorKind, Result};

/// `POST /containers/create`, decoded.
#[derive(Clone, Debug, Default)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// `NetworkingConfig.EndpointsConfig`: per network, aliases and addresses asked for.
    pub endpoints: BTreeMap<String, EndpointRequest>,
    /// Read-only binds leave their submounts writable (what clients below API 1.44 get).
    pub read_only_non_recursive: bool,
    /// `platform` (`os[/arch[/variant]]`) the image must be for; empty: any.
    pub platform: String,
}

impl ContainerService {
    /// `POST /containers/create`. Nothing is left behind when it fails.
    pub async fn create(
        &self,
        images: &ImageStore,
        req: CreateRequest,
    ) -> Result<(String, Vec<String>)> {
        let mut phases = super::phases::Phases::new("create", "");
        let mut config = req.config;
        let host_config = req.host_config;
        let image_name = config.image().to_string();
        if image_name.is_empty() {
            return Err(Error::invalid("No image specified"));
        }
        let image = images.resolve_for_container(&image_name).await?;
        check_platform(&req.platform, &image_name, &image.config)?;
        if let Some(from_image) = &image.config.config {
            config.merge_image(ContainerConfig::from_image(from_image)?);
        }
        phases.mark("image");
        let mut argv = config.entrypoint().to_vec();
        argv.extend_from_slice(config.cmd());
        if argv.is_empty() {
            return Err(Error::invalid("No command specified"));
        }
        validate_host_config(&host_config)?;
        super::limits::validate(&host_config, false, super::limits::HostCpus::host())?;
        LogConfig::validate(host_config.log_config.as_ref())?;
        let mut inherited = Vec::new();
        for spec in spec::list(&host_config.volumes_from) {
            let (from, read_only) = super::mounts::parse_volumes_from(spec)?;
            // A 400, not a 404: the CLI takes a 404 from create for a missing image.
            let source = self.get(&from).map_err(|e| Error::invalid(e.message))?;
            inherited.extend(
                source
                    .mounts
                    .iter()
                    .filter(|m| m.kind != "tmpfs")
                    .map(|m| super::mounts::inherit(m, read_only)),
            );
        }
        let mut wanted_mounts = super::mounts::wanted(config.volumes(), &host_config, inherited)?;
        if req.read_only_non_recursive {
            for m in wanted_mounts.iter_mut().filter(|m| m.kind == "bind") {
                m.read_only_non_recursive = true;
            }
        }
        let legacy_mac = config.mac_address().to_string();
        let networks =
            self.wanted_endpoints(host_config.network_mode(), &req.endpoints, &legacy_mac)?;
        let mut host_config = host_config;
        fill_host_config_defaults(&mut host_config);
        let id = random_id();
        let name = match &req.name {
            Some(n) if !n.is_empty() => {
                let n = names::validate(n)?;
                self.reserve_name(&n, &id)?;
                n
            }
            _ => {
                let mut attempt = 0;
                loop {
                    let n = format!("/{}", names::generate(attempt));
                    if self.reserve_name(&n, &id).is_ok() {
                        break n;
                    }
                    attempt += 1;
                }
            }
        };
        if let Err(e) = self.normalize_links(&mut host_config, &name) {
            self.release_name(&name, &id);
            return Err(e);
        }
        if config.hostname().is_empty() {
            config.hostname = Some(id[..12].to_string());
        }
        let dir = self.dir(&id);
        phases.set_id(&id);
        phases.mark("checks_and_name");
        let result = self
            .create_parts(
                &id,
                &name,
                &image,
                &image_name,
                config,
                host_config,
                argv,
                &dir,
                wanted_mounts,
                networks,
            )
            .await;
        match result {
            Ok(record) => {
                phases.mark("record_and_writable_layer");
                self.event(&record, "create", &[]);
                let c = Container::new(record);
                self.containers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), c);
                phases.mark("registered");
                phases.log();
                Ok((id, vec![]))
            }
            Err(e) => {
                self.release_name(&name, &id);
                let _ = std::fs::remove_dir_all(&dir);
                self.discard_writable_layer(&id).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_parts(
        &self,
        id: &str,
        name: &str,
        image: &crate::image::store::ResolvedImage,
        image_name: &str,
        config: ContainerConfig,
        host_config: HostConfig,
        argv: Vec<String>,
        dir: &std::path::Path,
        wanted_mounts: Vec<super::mounts::MountPoint>,
        networks: std::collections::BTreeMap<String, crate::network::Endpoint>,
    ) -> Result<ContainerRecord> {
        std::fs::create_dir_all(dir)?;
        let mounts = self.resolve_mounts(wanted_mounts)?;
        let record = ContainerRecord {
            schema_version: super::model::RECORD_SCHEMA_VERSION,
            id: id.to_string(),
            name: name.to_string(),
            created: now(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            image_id: image.id.clone(),
            image_name: image_name.to_string(),
            state: State::default(),
            restart_count: 0,
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            manually_stopped: false,
            mounts,
            networks,
            ports: vec![],
            sandbox: String::new(),
            host_config,
        };
        // The record is written while containerd prepares the writable layer: both wait on
        // the disk. A failure of either removes both (the caller cleans up).
        let persisted = {
            let (dir, record) = (dir.to_path_buf(), record.clone());
            tokio::task::spawn_blocking(move || {
                crate::system::crash_point("create:record");
                write_record(&dir, &record)
            })
        };
        let prepared = self.prepare_writable_layer(id, image).await;
        let persisted = persisted
            .await
            .map_err(|e| Error::internal(e.to_string()))
            .and_then(|r| r);
        if let Err(e) = prepared.and(persisted) {
            for m in record.mounts.iter().filter(|m| m.anonymous) {
                let _ = self.volumes.remove(&m.name, &[]);
            }
            return Err(e);
        }
        Ok(record)
    }

    /// Volumes looked up or made (anonymous ones get a generated name), and `-v` bind
    /// sources made when missing, as dockerd does. A failure removes the anonymous volumes
    /// made here.
    pub(super) fn resolve_mounts(
        &self,
        wanted: Vec<super::mounts::MountPoint>,
    ) -> Result<Vec<super::mounts::MountPoint>> {
        let mut out = Vec::with_capacity(wanted.len());
        let result = (|| {
            for mut m in wanted {
                if m.kind == "volume" {
                    let name = (!m.anonymous).then_some(m.name.as_str());
                    let made = m.new_volume.take().unwrap_or_default();
                    let v = self.volumes.create(name, made.labels, made.options)?;
                    m.name = v.name;
                    m.source = v.mountpoint.display().to_string();
                } else if m.kind == "bind" && !m.must_exist && std::fs::metadata(&m.source).is_err()
                {
                    // Only a missing source becomes a directory; a file (a config file,
                    // the Docker socket) is bound as it is.
                    std::fs::create_dir_all(&m.source)?;
                }
                out.push(m);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for m in out.iter().filter(|m| m.anonymous) {
                let _ = self.volumes.remove(&m.name, &[]);
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Fills the container's empty volumes from the image before it starts (not `nocopy`
    /// ones), through a read-only mount of its layers.
    pub(super) async fn copy_up_volumes(
        &self,
        record: &ContainerRecord,
        mounts: &[containerd_client::types::Mount],
    ) -> Result<()> {
        let volumes: Vec<(String, std::path::PathBuf)> = record
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && !m.no_copy && m.subpath.is_empty())
            .filter(|m| std::fs::read_dir(&m.source).is_ok_and(|mut d| d.next().is_none()))
            .map(|m| (m.destination.clone(), std::path::PathBuf::from(&m.source)))
            .collect();
        if volumes.is_empty() {
            return Ok(());
        }
        let view = super::filesystem::read_only(mounts)?;
        let target = self
            .exec_root
            .join(format!("copyup-{:016x}", rand::random::<u64>()));
        tokio::task::spawn_blocking(move || {
            crate::rootfs::with_mounted(&[view], &target, |root| {
                for (dest, volume) in &volumes {
                    super::mounts::copy_up(root, dest, volume)?;
                }
                Ok::<(), std::io::Error>(())
            })
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??
        .map_err(Error::from)
    }

    /// Volumes with driver options are unmounted once no running container uses them; each
    /// volume of the run gets the `unmount` event moby emits.
    pub(super) fn unpin_volumes(&self, record: &ContainerRecord) {
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.unpin(&m.name, &record.id);
            self.volumes.unmount_event(&m.name, &record.id);
        }
    }

    /// Containers using volume `name`, by ID.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|c| {
                c.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// The container's writable snapshot `id` on the image's init layer. It is a collector
    /// root of its own (no lease to create): it stays until the container is removed.
    pub(super) async fn prepare_writable_layer(
        &self,
        id: &str,
        image: &crate::image::store::ResolvedImage,
    ) -> Result<()> {
        let parent = image.chain_ids.last().cloned().unwrap_or_default();
        let (init, made) = self.init_layer_for(&parent, false).await?;
        let mut prepared = self.containerd.prepare_root_snapshot(id, &init).await;
        let mut leases = vec![made];
        if let Err(e) = &prepared
            && e.kind == ErrorKind::NotFound
        {
            // A collection took an init layer no container used any more.
            self.init_known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&init);
            let (init, made) = self.init_layer_for(&parent, true).await?;
            leases.push(made);
            prepared = self.containerd.prepare_root_snapshot(id, &init).await;
        }
        // A new init layer is the writable layer's parent now: its lease can go.
        for lease in leases.into_iter().flatten() {
            self.containerd.delete_lease(&lease).await;
        }
        prepared.map(|_| ())
    }

    /// The init layer on the image's top snapshot `parent`: the placeholders do not depend on
    /// the container, so containers of one image share it. Made once, then kept by
    /// containerd as the parent of their writable layers; when this call made it, the lease
    /// holding it until then comes back too, for the caller to end.
    pub(super) async fn init_layer_for(
        &self,
        parent: &str,
        fresh: bool,
    ) -> Result<(String, Option<Lease>)> {
        let name = init_snapshot(parent);
        // Known to exist already (a collection may still take it: the caller then asks again
        // with `fresh`).
        if !fresh
            && self
                .init_known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&name)
        {
            return Ok((name, None));
        }
        if self.containerd.snapshot_exists(&name).await? {
            self.remember_init(&name);
            return Ok((name, None));
        }
        let lock = self
            .init_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_default()
            .clone();
        let _made_once = lock.lock().await;
        if self.containerd.snapshot_exists(&name).await? {
            self.remember_init(&name);
            return Ok((name, None));
        }
        let lease = self.containerd.create_lease("init").await?;
        let made = self.make_init_layer(&lease, &name, parent).await;
        if made.is_err() {
            self.containerd.delete_lease(&lease).await;
        }
        made?;
        self.remember_init(&name);
        Ok((name, Some(lease)))
    }

    pub(super) async fn make_init_layer(
        &self,
        lease: &Lease,
        name: &str,
        parent: &str,
    ) -> Result<()> {
        let key = format!("{name}-{:016x}", rand::random::<u64>());
        let mounts = self
            .containerd
            .prepare_snapshot(lease, &key, parent, HashMap::new())
            .await?;
        let target = self.exec_root.join(&key);
        let filled = tokio::task::spawn_blocking(move || {
            crate::rootfs::with_mounted(&mounts, &target, super::init_layer::populate)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|r| r)
        .and_then(|r| r.map_err(Error::from));
        let committed = match filled {
            Ok(()) => {
                self.containerd
                    .commit_snapshot(lease, name, &key, HashMap::new())
                    .await
            }
            Err(e) => Err(e),
        };
        if committed.is_err() {
            let _ = self.containerd.remove_snapshot(&key).await;
        }
        committed
    }

    pub(super) fn remember_init(&self, name: &str) {
        self.init_known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string());
    }

    /// Removes the writable layer (and its lease) of a container whose create failed. A
    /// create that failed because containerd went away may have left the snapshot made:
    /// then the removal carries on in the background once containerd is back (for up to a
    /// minute), so no snapshot outlives the outage without a container.
    pub(super) async fn discard_writable_layer(&self, id: &str) {
        match self.containerd.remove_snapshot(id).await {
            Err(e) if e.kind == ErrorKind::Unavailable => {
                let (this, id) = (self.self_ref(), id.to_string());
                tokio::spawn(async move {
                    for _ in 0..120 {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let Some(this) = this.upgrade() else { return };
                        match this.containerd.remove_snapshot(&id).await {
                            Err(e) if e.kind == ErrorKind::Unavailable => continue,
                            _ => {
                                this.containerd.delete_lease(&Self::lease_for(&id)).await;
                                return;
                            }
                        }
                    }
                    tracing::warn!(container = %id, "writable layer of a failed create left: containerd stayed away");
                });
            }
            _ => self.containerd.delete_lease(&Self::lease_for(id)).await,
        }
    }
}

/// moby's platform check at create: the image found must be for the platform asked for
/// (404, so that the CLI goes looking for the right one).
pub(super) fn check_platform(
    wanted: &str,
    image_name: &str,
    config: &crate::image::store::ImageConfig,
) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let arch = |a: &str| match a {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_ascii_lowercase(),
    };
    let mut parts = wanted.split('/');
    let os = parts.next().unwrap_or("").to_ascii_lowercase();
    let want_arch = parts.next().map(arch);
    let want_variant = parts.next().map(str::to_ascii_lowercase);
    let image_os = if config.os.is_empty() {
        "linux"
    } else {
        &config.os
    };
    let image_arch = arch(&config.architecture);
    let image_variant = config.variant.clone().filter(|v| !v.is_empty());
    let matches = os == image_os
        && want_arch.as_ref().is_none_or(|a| *a == image_arch)
        && want_variant
            .as_ref()
            .is_none_or(|v| image_variant.as_ref().is_none_or(|iv| iv == v));
    if matches {
        return Ok(());
    }
    let format = |os: &str, arch: Option<&String>, variant: Option<&String>| {
        [Some(os.to_string()), arch.cloned(), variant.cloned()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    };
    Err(Error::not_found(format!(
        "image with reference {image_name} was found but does not match the specified platform: wanted {}, actual: {}",
        format(&os, want_arch.as_ref(), want_variant.as_ref()),
        format(image_os, Some(&image_arch), image_variant.as_ref()),
    )))
}

/// Defaults moby fills in at create time, so inspect shows them.
pub(super) fn fill_host_config_defaults(h: &mut HostConfig) {
    pub(super) fn unset_text(v: &mut Option<String>, default: &str) {
        if v.as_deref().unwrap_or("").is_empty() {
            *v = Some(default.to_string());
        }
    }
    let log = h.log_config.get_or_insert_default();
    if log.r#type.as_deref().unwrap_or("").is_empty() {
        log.r#type = Some("json-file".into());
        log.config.get_or_insert_default();
    }
    if h.shm_size.unwrap_or(0) == 0 {
        h.shm_size = Some(67108864);
    }
    unset_text(&mut h.ipc_mode, "private");
    // dockerd's default: a private cgroup namespace where cgroup v2 makes it useful.
    let cgroupns = if crate::system::cgroup_v2() {
        "private"
    } else {
        "host"
    };
    unset_text(&mut h.cgroupns_mode, cgroupns);
    unset_text(&mut h.network_mode, "default");
    unset_text(&mut h.runtime, "runc");
    if h.pids_limit.is_some_and(|p| p <= 0) {
        h.pids_limit = None;
    }
    // dockerd's default: as much swap as memory (the limit covers memory plus swap).
    let memory = h.memory.unwrap_or(0);
    if memory > 0 && h.memory_swap.unwrap_or(0) == 0 {
        h.memory_swap = Some(memory * 2);
    }
    if h.memory_swappiness == Some(-1) {
        h.memory_swappiness = None;
    }
    h.restart_policy
        .get_or_insert_with(|| spec::RestartPolicySpec {
            name: Some("no".into()),
            maximum_retry_count: Some(0),
        });
}

/// moby's create-time host-config checks that matter before anything is made.
pub(super) fn validate_host_config(h: &HostConfig) -> Result<()> {
    setup::security_options(spec::list(&h.security_opt))?;
    oci::validate_capabilities("CapAdd", spec::list(&h.cap_add)).map_err(Error::invalid)?;
    oci::validate_capabilities("CapDrop", spec::list(&h.cap_drop)).map_err(Error::invalid)?;
    if let Some(rp) = &h.restart_policy {
        let name = spec::text(&rp.name);
        RestartPolicy::validate(name, rp.maximum_retry_count.unwrap_or(0))?;
        if h.auto_remove() && !matches!(name, "" | "no") {
            return Err(Error::invalid(
                "conflicting options: cannot specify both --restart and --rm",
            ));
        }
    }
    Ok(())
}

/// The name of the init layer on the image snapshot `parent` (the chain ID, or none).
pub(super) fn init_snapshot(parent: &str) -> String {
    match parent.strip_prefix("sha256:") {
        Some(hex) => format!("berth-init-{hex}"),
        None if parent.is_empty() => "berth-init-scratch".to_string(),
        None => format!("berth-init-{parent}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn restart_policy_checks() {
        let h = |v: Value| -> HostConfig { serde_json::from_value(v).unwrap() };
        assert!(
            validate_host_config(&h(
                json!({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}})
            ))
            .is_err()
        );
        assert!(
            validate_host_config(&h(
                json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
            ))
            .is_ok()
        );
        assert!(
            validate_host_config(&h(
                json!({"RestartPolicy": {"Name": "always"}, "AutoRemove": true})
            ))
            .is_err()
        );
    }
}
