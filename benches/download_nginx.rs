//! Downloads against the anchor a user would otherwise run: `curl` on the same signed URL. The
//! artifacts are served by nginx (Debian's `nginx-light`, `sendfile` on) from tmpfs, and every
//! file is written to tmpfs, so the client is what is measured; the API is the loopback mock of
//! `tests/support`, whose `/file` redirects to nginx.
//!
//! - `download_nginx_256MiB`: one 256 MiB artifact by `Run::download_to` (CRC32C verified,
//!   fsynced, renamed) against one `curl` stream into a file (NFR-26); four 64 MiB artifacts by
//!   `download_to` (`concurrency(4)`) against the same one stream, and four `curl`s at once.
//! - `download_nginx_400x256KiB`: a run of 400 items × one 256 KiB artifact with the default
//!   options (what `aignostics runs download` calls); anchor 0.34 s, about 1,200 artifacts/s
//!   (NFR-27).
//!
//! After each function the bench prints the CPU time it cost per GB: this process (client and
//! mock API) plus its children (`curl`), read from `/proc/self/stat`; nginx is not counted.
//!
//! ```text
//! cargo bench --bench download_nginx        # needs nginx (/usr/sbin/nginx) and curl
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aignostics::{Client, DownloadOptions};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use support::{Pattern, Platform, artifact_json, item_json};

const MIB: u64 = 1024 * 1024;

/// nginx serving `root/` on a free loopback port until dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(prefix: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let p = prefix.display();
        let conf = format!(
            "worker_processes 2;\nerror_log {p}/error.log;\npid {p}/nginx.pid;\ndaemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n\
             client_body_temp_path {p}/tmp; proxy_temp_path {p}/tmp; fastcgi_temp_path {p}/tmp;\n\
             uwsgi_temp_path {p}/tmp; scgi_temp_path {p}/tmp;\n\
             server {{ listen 127.0.0.1:{port}; root {p}/root; location / {{ }} }}\n}}\n"
        );
        std::fs::create_dir_all(prefix.join("tmp")).expect("nginx temp dir");
        std::fs::write(prefix.join("nginx.conf"), conf).expect("nginx.conf");
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|n| {
                Command::new(n)
                    .arg("-v")
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            })
            .expect("nginx is needed: apt-get install nginx-light");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM through kill(1): the master stops its workers (Child::kill would orphan them).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// CPU seconds of this process and its waited-for children so far (`/proc/self/stat`, clock
/// ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .skip(11) // state … cmajflt: utime is the 14th field overall
        .take(4) // utime, stime, cutime, cstime
        .map(|f| f.parse().expect("tick count"))
        .collect();
    fields.iter().sum::<u64>() as f64 / 100.0
}

/// One run on its own mock platform, its artifacts written into nginx's root.
struct Fixture {
    platform: Platform,
    client: Client,
    files: Vec<String>,
}

fn fixture(run_id: &str, root: &Path, storage: &str, sizes: &[u64]) -> Fixture {
    let platform = Platform::start(run_id);
    let mut items = Vec::new();
    let mut files = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data = Pattern::pseudo_random(i as u64 + 1, *size);
        let id = format!("{run_id}-{i:04}");
        let mut file = std::fs::File::create(root.join(&id)).expect("artifact file");
        std::io::copy(&mut data.reader_from(0), &mut file).expect("write artifact");
        items.push(item_json(
            &format!("slide-{i:04}"),
            vec![artifact_json(
                &id,
                "result",
                "application/octet-stream",
                Some(&data.checksum()),
            )],
        ));
        files.push(id);
    }
    platform.items(items);
    platform.storage_host(storage);
    let client = platform.client("bench-token");
    Fixture {
        platform,
        client,
        files,
    }
}

/// `curl` of each URL at once, each into its own file in `out`.
fn curl(urls: &[String], out: &Path, expected: u64) {
    let children: Vec<Child> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            Command::new("curl")
                .args(["-sS", "--fail", "--http1.1", "-o"])
                .arg(out.join(format!("curl-{i}")))
                .arg(url)
                .spawn()
                .expect("curl is needed")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("curl").success(), "curl failed");
    }
    let total: u64 = (0..urls.len())
        .map(|i| {
            std::fs::metadata(out.join(format!("curl-{i}")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(total, expected, "curl fetched every byte");
}

/// Runs `bench` and prints the CPU it cost per GB moved (all iterations, warm-up included).
fn with_cpu(name: &str, bytes_per_iteration: u64, bench: impl FnOnce(&mut u64)) {
    let mut iterations = 0u64;
    let cpu = cpu_seconds();
    bench(&mut iterations);
    let gb = (iterations * bytes_per_iteration) as f64 / 1e9;
    if gb > 0.0 {
        eprintln!(
            "{name}: {:.3} CPU s per GB ({iterations} iterations)",
            (cpu_seconds() - cpu) / gb
        );
    }
}

fn downloads(c: &mut Criterion) {
    let prefix = Path::new(if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    })
    .join(format!("aignostics-bench-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    let root = prefix.join("root");
    let out = prefix.join("out");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::create_dir_all(&out).expect("out");
    let nginx = Nginx::start(&prefix);
    let storage = nginx.url();

    let one = fixture("one", &root, &storage, &[256 * MIB]);
    let four = fixture("four", &root, &storage, &[64 * MIB; 4]);
    let small = fixture("small", &root, &storage, &[256 * 1024; 400]);
    let url = |f: &Fixture, i: usize| format!("{storage}/{}?X-Goog-Signature=sig", f.files[i]);
    let one_url = vec![url(&one, 0)];
    let four_urls: Vec<String> = (0..4).map(|i| url(&four, i)).collect();

    let mut group = c.benchmark_group("download_nginx_256MiB");
    group.throughput(Throughput::Bytes(256 * MIB));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));

    let fresh = |dir: &PathBuf| {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("output dir");
    };
    let curl_out = out.join("curl");
    for (name, urls) in [("curl_1_stream", &one_url), ("curl_4_streams", &four_urls)] {
        with_cpu(name, 256 * MIB, |n| {
            group.bench_function(name, |b| {
                b.iter_batched(
                    || fresh(&curl_out),
                    |()| {
                        curl(urls, &curl_out, 256 * MIB);
                        *n += 1;
                    },
                    BatchSize::PerIteration,
                );
            });
        });
    }
    let client_out = out.join("client");
    for (name, fixture, concurrency) in [
        ("download_to_1_artifact", &one, 1),
        ("download_to_4_artifacts", &four, 4),
    ] {
        let options = DownloadOptions::default()
            .wait_for_run(false)
            .concurrency(concurrency);
        with_cpu(name, 256 * MIB, |n| {
            group.bench_function(name, |b| {
                b.iter_batched(
                    || fresh(&client_out),
                    |()| {
                        let report = fixture
                            .client
                            .run(&fixture.platform.run_id)
                            .download_to(&client_out, &options)
                            .expect("download_to");
                        assert_eq!(report.bytes, 256 * MIB);
                        *n += 1;
                    },
                    BatchSize::PerIteration,
                );
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("download_nginx_400x256KiB");
    group.throughput(Throughput::Elements(400));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    let options = DownloadOptions::default();
    with_cpu("download_to_400_artifacts", 400 * 256 * 1024, |n| {
        group.bench_function("download_to_400_artifacts", |b| {
            b.iter_batched(
                || fresh(&client_out),
                |()| {
                    let report = small
                        .client
                        .run(&small.platform.run_id)
                        .download_to(&client_out, &options)
                        .expect("download_to");
                    assert_eq!(report.downloaded.len(), 400);
                    *n += 1;
                },
                BatchSize::PerIteration,
            );
        });
    });
    group.finish();

    drop(nginx);
    let _ = std::fs::remove_dir_all(&prefix);
}

criterion_group!(benches, downloads);
criterion_main!(benches);
