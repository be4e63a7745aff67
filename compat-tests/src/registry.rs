//! A local registry for pull and push tests: Debian's docker-registry on a free loopback
//! port with its storage in a temp dir (basic auth when asked), filled with skopeo.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{unique_temp_dir, wait_until};

pub struct Registry {
    child: Child,
    dir: std::path::PathBuf,
    pub port: u16,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// With `Some((user, password))`, the registry asks for basic auth (htpasswd).
    pub fn start_with(user: Option<(&str, &str)>) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = unique_temp_dir("bct-registry");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{}",
                dir.join("data").display(),
                match user {
                    Some(_) => format!(
                        "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                        dir.join("htpasswd").display()
                    ),
                    None => String::new(),
                }
            ),
        )
        .unwrap();
        if let Some((name, password)) = user {
            // A bcrypt hash from the system's crypt(3), through Python's crypt module.
            let out = Command::new("python3")
                .args([
                    "-W",
                    "ignore",
                    "-c",
                    "import crypt,sys; print(sys.argv[1] + ':' + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                    name,
                    password,
                ])
                .output()
                .expect("python3");
            assert!(
                out.status.success(),
                "htpasswd entry: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
        }
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let up = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "registry did not start on port {port}");
        Registry { child, dir, port }
    }

    pub fn push(&self, archive: &std::path::Path, repo_tag: &str) {
        self.push_as(archive, repo_tag, None);
    }

    pub fn push_as(&self, archive: &std::path::Path, repo_tag: &str, creds: Option<&str>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            cmd.args(["--dest-creds", c]);
        }
        let out = cmd
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://127.0.0.1:{}/{repo_tag}", self.port))
            .output()
            .expect("skopeo (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
