//! `docker cp`: stat, archive and extract paths inside a container. A running container's
//! files are reached through `/proc/<pid>/root`, which shows its mounts as it sees them. A
//! stopped one's layers, volumes and binds are mounted in a private mount namespace of one
//! thread, which the kernel tears down with the thread, so a crash leaves no mount behind.
//! Either way every path is resolved by [`Confined`], never outside the container's root.

use std::ffi::OsString;
use std::os::fd::AsRawFd as _;
use std::path::PathBuf;

use containerd_client::types::Mount;
use nix::mount::{MntFlags, MsFlags};

use super::model::{ContainerRecord, Status};
use super::mounts::MountPoint;
use super::service::ContainerService;
use crate::confined::{Confined, ExtractOptions, PathStat, display};
use crate::{Error, Result};

/// Where a container's files are, for the copy thread.
enum Files {
    /// The container's init process, and the container's ID (its cgroup names it).
    Running(u32, String),
    Stopped {
        rootfs: Vec<Mount>,
        mounts: Vec<MountPoint>,
        /// Volumes with a device (driver options), by destination: mounted as at start.
        devices: Vec<(String, std::collections::BTreeMap<String, String>)>,
        target: PathBuf,
        /// Held while the layers are mounted, so the container does not start meanwhile.
        _op: tokio::sync::OwnedMutexGuard<()>,
    },
}

type Job = Box<dyn FnOnce(std::io::Result<&Confined>) + Send>;

impl ContainerService {
    /// `HEAD /containers/{id}/archive`.
    pub async fn stat_path(&self, name_or_id: &str, path: &str) -> Result<PathStat> {
        let (_, files) = self.files(name_or_id).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let wanted = path.to_string();
        run(
            files,
            Box::new(move |root| {
                let _ = tx.send(root.and_then(|r| r.stat(&wanted)).map(|(s, _)| s));
            }),
        );
        let stat = rx
            .await
            .map_err(|_| Error::internal("the copy thread ended early"))?;
        stat.map_err(|e| not_found_or(e, path, name_or_id))
    }

    /// `GET /containers/{id}/archive`: the path's stat, then its tar arrives in `out` piece
    /// by piece (a failure midway arrives there as an error).
    pub async fn archive_path(
        &self,
        name_or_id: &str,
        path: &str,
        out: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    ) -> Result<PathStat> {
        let (record, files) = self.files(name_or_id).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let wanted = path.to_string();
        run(
            files,
            Box::new(move |root| {
                let root = match root.and_then(|r| r.stat(&wanted).map(|s| (r, s))) {
                    Ok((r, (stat, _))) => {
                        let _ = tx.send(Ok(stat));
                        r
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let mut writer = super::filesystem::ChannelWriter::new(out.clone());
                if let Err(e) = root.archive(&wanted, &mut writer) {
                    let _ = out.blocking_send(Err(e));
                }
            }),
        );
        let stat = rx
            .await
            .map_err(|_| Error::internal("the copy thread ended early"))?
            .map_err(|e| not_found_or(e, path, name_or_id))?;
        self.container_event(&record, "archive-path", &[]);
        Ok(stat)
    }

    /// `PUT /containers/{id}/archive`: unpacks `input` (a tar) into the directory `path`.
    pub async fn extract_to_dir(
        &self,
        name_or_id: &str,
        path: &str,
        copy_uid_gid: bool,
        no_overwrite_dir_non_dir: bool,
        input: impl std::io::Read + Send + 'static,
    ) -> Result<()> {
        let (record, files) = self.files(name_or_id).await?;
        let user = record.config.user().to_string();
        let chown = if copy_uid_gid && !user.is_empty() {
            let mounts = self.containerd().snapshot_mounts(&record.id).await?;
            let dirs = mounts
                .first()
                .map(|m| super::setup::overlay_dirs(&m.options))
                .unwrap_or_default();
            let (uid, gid, _) = super::setup::resolve_user(&user, &dirs)?;
            Some((uid, gid))
        } else {
            None
        };
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir,
            chown,
        };
        let read_only_rootfs = super::spec::flag(&record.host_config.readonly_rootfs);
        let mounts = record.mounts.clone();
        let wanted = path.to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        run(
            files,
            Box::new(move |root| {
                let result = root.and_then(|root| {
                    let dest = root.extraction_point(&wanted)?;
                    writable(&dest, &mounts, read_only_rootfs)?;
                    root.extract(&dest, decompressed(input)?, &opts)
                });
                let _ = tx.send(result);
            }),
        );
        rx.await
            .map_err(|_| Error::internal("the copy thread ended early"))?
            .map_err(|e| not_found_or(e, path, name_or_id))?;
        self.container_event(&record, "extract-to-dir", &[]);
        Ok(())
    }

    /// The container and where its files are; a stopped container's lifecycle lock is
    /// taken here and travels with its files.
    async fn files(&self, name_or_id: &str) -> Result<(ContainerRecord, Files)> {
        let c = self.lookup(name_or_id)?;
        let op = c.op.clone().lock_owned().await;
        c.after_teardown().await;
        let record = c.rec().clone();
        let live = matches!(record.state.status, Status::Running | Status::Paused)
            && record.state.pid != 0;
        if live {
            return Ok((
                record.clone(),
                Files::Running(record.state.pid, record.id.clone()),
            ));
        }
        let rootfs = self.containerd().snapshot_mounts(&record.id).await?;
        let target = self
            .exec_root()
            .join(format!("cp-{:016x}", rand::random::<u64>()));
        let mounts = record.mounts.clone();
        let devices = mounts
            .iter()
            .filter(|m| m.kind == "volume")
            .filter_map(|m| {
                self.volumes()
                    .device_options(&m.name)
                    .map(|o| (m.destination.clone(), o))
            })
            .collect();
        Ok((
            record,
            Files::Stopped {
                rootfs,
                mounts,
                devices,
                target,
                _op: op,
            },
        ))
    }
}

/// Runs `job` on a thread of its own with the container's files.
fn run(files: Files, job: Job) {
    std::thread::spawn(move || match files {
        Files::Running(pid, id) => {
            let root = Confined::of_process(pid, &id);
            job(root.as_ref().map_err(clone_err));
        }
        Files::Stopped {
            rootfs,
            mounts,
            devices,
            target,
            _op,
        } => {
            let root = mount_stopped(&rootfs, &mounts, &devices, &target);
            job(root.as_ref().map_err(clone_err));
            drop(root);
            // The namespace goes with this thread; the directory is the host's.
            let _ = nix::mount::umount2(&target, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&target);
        }
    });
}

fn clone_err(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

/// In a new mount namespace of this thread: the container's layers at `target`, then its
/// volumes and binds at their destinations (resolved inside its root).
fn mount_stopped(
    rootfs: &[Mount],
    mounts: &[MountPoint],
    devices: &[(String, std::collections::BTreeMap<String, String>)],
    target: &std::path::Path,
) -> std::io::Result<Confined> {
    let sys = |e: nix::errno::Errno| std::io::Error::from(e);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(sys)?;
    // Nothing mounted here may propagate back to the host.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(sys)?;
    std::fs::create_dir_all(target)?;
    crate::rootfs::mount_all(rootfs, target).map_err(|e| std::io::Error::other(e.message))?;
    let root = Confined::open(target)?;
    let mut ordered: Vec<&MountPoint> = mounts.iter().filter(|m| !m.source.is_empty()).collect();
    ordered.sort_by_key(|m| m.destination.matches('/').count());
    for m in ordered {
        let Ok(meta) = std::fs::metadata(&m.source) else {
            continue;
        };
        let dest = root.resolve(&m.destination, true)?;
        if meta.is_dir() {
            root.ensure_dir(&dest)?;
        } else {
            root.ensure_file(&dest)?;
        }
        let at = root.open_path(&dest)?;
        let via = format!("/proc/self/fd/{}", at.as_raw_fd());
        match devices.iter().find(|(d, _)| *d == m.destination) {
            // A volume's device (a bind of a host directory, an NFS export), as a running
            // container would see it, rather than the bare `_data` below it.
            Some((_, opts)) => crate::volume::mount_device(opts, std::path::Path::new(&via))
                .map_err(|e| std::io::Error::other(e.message))?,
            None => nix::mount::mount(
                Some(m.source.as_str()),
                via.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(sys)?,
        }
        if !m.rw {
            let mounted = root.open_path(&dest)?;
            let via = format!("/proc/self/fd/{}", mounted.as_raw_fd());
            nix::mount::mount(
                None::<&str>,
                via.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(sys)?;
            // Read-only all the way down: a host submount under the bind source must not
            // take writes either.
            let canonical = std::fs::canonicalize(target)?;
            let top = canonical.join(display(&dest).trim_start_matches('/'));
            for mount_point in mounts_under(&top) {
                nix::mount::mount(
                    None::<&str>,
                    &mount_point,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(sys)?;
            }
        }
    }
    Ok(root)
}

/// Mount points at `top` or below it in this thread's mount namespace, top first.
fn mounts_under(top: &std::path::Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(crate::system::unescape_octal(p)))
        .filter(|p| p.starts_with(top))
        .collect();
    out.sort_by_key(|p| p.components().count());
    out.dedup();
    out
}

/// The tar of a `PUT /containers/{id}/archive`, which may come gzip- or bzip2-compressed
/// (moby decompresses what it recognises; bollard sends gzip).
fn decompressed(
    input: impl std::io::Read + Send + 'static,
) -> std::io::Result<Box<dyn std::io::Read + Send>> {
    use std::io::BufRead as _;
    let mut r = std::io::BufReader::new(input);
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(r))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2_rs::DecoderReader::new(r))
    } else {
        Box::new(r)
    })
}

/// moby's rule for extracting: into a volume only if it is writable, elsewhere only if the
/// root filesystem is.
fn writable(
    dest: &[OsString],
    mounts: &[MountPoint],
    read_only_rootfs: bool,
) -> std::io::Result<()> {
    let path = display(dest);
    let mount = mounts
        .iter()
        .filter(|m| {
            m.destination == "/"
                || path == m.destination
                || path.starts_with(&format!("{}/", m.destination))
        })
        .max_by_key(|m| m.destination.len());
    let refuse = |m: &str| std::io::Error::new(std::io::ErrorKind::PermissionDenied, m.to_string());
    match mount {
        Some(m) if !m.rw => Err(refuse("mounted volume is marked read-only")),
        Some(_) => Ok(()),
        None if read_only_rootfs => Err(refuse("container rootfs is marked read-only")),
        None => Ok(()),
    }
}

/// Errors of the copy thread as the API answers them.
fn not_found_or(e: std::io::Error, path: &str, name_or_id: &str) -> Error {
    use std::io::ErrorKind as K;
    match (e.kind(), e.raw_os_error()) {
        (K::NotFound, _) | (K::NotADirectory, Some(_)) => Error::not_found(format!(
            "Could not find the file {path} in container {name_or_id}"
        )),
        (K::NotADirectory | K::InvalidInput | K::PermissionDenied, None) => {
            Error::invalid(e.to_string())
        }
        _ => Error::internal(e.to_string()),
    }
}
