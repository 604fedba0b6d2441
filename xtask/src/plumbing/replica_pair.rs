//! A primary and its streaming standby, each a PostgreSQL cluster of its own (`pg_createcluster`,
//! the standby copied with `pg_basebackup -R`), for `bench backfill --with-standby` and the
//! replica tests (which include this file). Never the server on 5432: a primary needs settings
//! that one must keep. Each cluster is dropped, data and configuration, with its value.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use migrations::DatabaseUrl;
use xshell::{cmd, Shell};

const MAJOR: &str = "15";
/// How long a new standby may take to stream, and to catch up before a measurement.
const STANDBY_START: Duration = Duration::from_secs(120);

/// A cluster made here, `pg_dropcluster --stop`ped when dropped.
pub struct Cluster {
    name: String,
    pub url: DatabaseUrl,
}

impl Cluster {
    /// A primary on `port`: WAL for standbys, and loopback replication connections trusted.
    pub fn primary(name: &str, port: u16) -> Result<Cluster> {
        let sh = Shell::new()?;
        drop_leftover(&sh, name);
        let port_text = port.to_string();
        cmd!(
            sh,
            "pg_createcluster {MAJOR} {name} -p {port_text} -o wal_level=replica -o max_wal_senders=4 -- --auth=trust"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("creating the primary cluster {name} on port {port}"))?;
        let cluster = Cluster::at(name, port)?;
        // Debian's pg_hba.conf asks replication connections for a password: the test's own
        // cluster trusts loopback, as its --auth=trust does for everything else.
        let hba = format!("/etc/postgresql/{MAJOR}/{name}/pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).with_context(|| format!("reading {hba}"))?;
        rules.insert_str(0, "host replication all 127.0.0.1/32 trust\n");
        std::fs::write(&hba, rules).with_context(|| format!("writing {hba}"))?;
        cluster.ctl("start")?;
        Ok(cluster)
    }

    /// A hot standby of `primary` on `port`, streaming from it, replaying as it streams.
    pub fn standby(name: &str, port: u16, primary: &Cluster) -> Result<Cluster> {
        let sh = Shell::new()?;
        drop_leftover(&sh, name);
        let port_text = port.to_string();
        cmd!(
            sh,
            "pg_createcluster {MAJOR} {name} -p {port_text} -- --auth=trust"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("creating the standby cluster {name} on port {port}"))?;
        let cluster = Cluster::at(name, port)?;
        let data = format!("/var/lib/postgresql/{MAJOR}/{name}");
        // The copy must belong to the clusters' owner (postgres, when this runs as root).
        let owner = cmd!(sh, "stat -c %U:%G {data}").read()?;
        std::fs::remove_dir_all(&data).with_context(|| format!("emptying {data}"))?;
        let primary_port = primary.url.port().to_string();
        cmd!(
            sh,
            "pg_basebackup -h 127.0.0.1 -p {primary_port} -U postgres -D {data} -R -X stream -c fast"
        )
        .quiet()
        .run()
        .context("copying the primary with pg_basebackup -R")?;
        cmd!(sh, "chown -R {owner} {data}").quiet().run()?;
        cluster.ctl("start")?;
        cluster.wait_streaming(primary)?;
        Ok(cluster)
    }

    fn at(name: &str, port: u16) -> Result<Cluster> {
        Ok(Cluster {
            name: name.to_owned(),
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres").parse()?,
        })
    }

    /// `start` or `stop` (fast: the tests stop a standby mid-run on purpose).
    pub fn ctl(&self, action: &str) -> Result<()> {
        let sh = Shell::new()?;
        let name = &self.name;
        cmd!(
            sh,
            "pg_ctlcluster --skip-systemctl-redirect -m fast {MAJOR} {name} {action}"
        )
        .quiet()
        .run()
        .with_context(|| format!("pg_ctlcluster {action} {name}"))?;
        Ok(())
    }

    /// Until the primary sees this standby streaming with nothing left to replay.
    pub fn wait_streaming(&self, primary: &Cluster) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(mut client) = primary.url.connect("bomizzel-replica-pair") {
                let caught_up: Option<bool> = client
                    .query_opt(
                        "SELECT replay_lsn >= pg_current_wal_lsn() FROM pg_stat_replication
                         WHERE state = 'streaming' LIMIT 1",
                        &[],
                    )?
                    .and_then(|row| row.get(0));
                if caught_up == Some(true) {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                started.elapsed() < STANDBY_START,
                "standby {} did not stream from the primary within {STANDBY_START:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(sh) = Shell::new() {
            drop_leftover(&sh, &self.name);
        }
    }
}

/// What a killed earlier run left under this name (its port would be taken otherwise).
fn drop_leftover(sh: &Shell, name: &str) {
    if std::path::Path::new(&format!("/etc/postgresql/{MAJOR}/{name}")).exists() {
        let _ = cmd!(sh, "pg_dropcluster --stop {MAJOR} {name}")
            .quiet()
            .ignore_stderr()
            .run();
    }
}
