//! docker/: what can be checked without a Docker engine. The compose file parses (`docker compose config`
//! when the compose plugin is there, else a structural check of the YAML), every file the Dockerfile and the
//! compose file name exists, the shell scripts pass shellcheck, and the rules file passes `shardgate check`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The compose file as JSON, read by PyYAML (YAML merge keys resolved).
fn compose_json() -> serde_json::Value {
    let script = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let out = Command::new("python3").args(["-c", script]).arg(root().join("docker/compose.yml")).output().expect("python3");
    assert!(out.status.success(), "docker/compose.yml is not valid YAML: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

#[test]
fn compose_file_parses_and_publishes_only_shardgate_and_prometheus() {
    let plugin = Command::new("docker").args(["compose", "version"]).output().is_ok_and(|o| o.status.success());
    if plugin {
        let out = Command::new("docker").args(["compose", "-f", "docker/compose.yml", "config", "-q"]).current_dir(root()).output().unwrap();
        assert!(out.status.success(), "docker compose config: {}", String::from_utf8_lossy(&out.stderr));
    }
    let doc = compose_json();
    let services = doc.get("services").expect("services");
    let services = services.as_object().expect("a map of services");
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    for want in ["ds0-primary", "ds0-replica", "ds1-primary", "ds1-replica", "shardgate", "prometheus", "sysbench"] {
        assert!(names.contains(&want), "service {want} in {names:?}");
    }
    for (name, s) in services {
        assert!(s.get("image").is_some() || s.get("build").is_some(), "{name}: an image or a build");
        assert!(s.get("networks").and_then(|n| n.get("shards")).is_some(), "{name}: on the private network");
        let published = s.get("ports").and_then(|p| p.as_array()).map_or(0, Vec::len);
        let may = matches!(name.as_str(), "shardgate" | "prometheus");
        assert_eq!(published > 0, may, "{name}: only shardgate and prometheus publish ports");
        for p in s.get("ports").and_then(|p| p.as_array()).into_iter().flatten() {
            assert!(p.as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{name}: published on loopback only: {p:?}");
        }
    }
    for mysql in ["ds0-primary", "ds0-replica", "ds1-primary", "ds1-replica"] {
        let s = services.get(mysql).unwrap();
        assert_eq!(s.get("image").and_then(|i| i.as_str()), Some("mysql:8.0"), "{mysql}: MySQL 8.0 (merge key resolved)");
        let command: Vec<&str> = s["command"].as_array().unwrap().iter().filter_map(|c| c.as_str()).collect();
        assert!(command.contains(&"--gtid-mode=ON"), "{mysql}: GTID replication");
    }
}

/// Host paths the compose file mounts or builds from, relative to docker/.
fn compose_paths() -> Vec<PathBuf> {
    let doc = compose_json();
    let mut out = Vec::new();
    for s in doc["services"].as_object().unwrap().values() {
        for v in s.get("volumes").and_then(|v| v.as_array()).into_iter().flatten() {
            let host = v.as_str().unwrap().split(':').next().unwrap();
            if host.starts_with('.') {
                out.push(root().join("docker").join(host));
            }
        }
        if let Some(b) = s.get("build") {
            let context = root().join("docker").join(b.get("context").unwrap().as_str().unwrap());
            out.push(context.join(b.get("dockerfile").unwrap().as_str().unwrap()));
        }
    }
    out
}

#[test]
fn every_file_the_dockerfile_and_compose_name_exists() {
    let mut missing = Vec::new();
    for p in compose_paths() {
        if !p.exists() {
            missing.push(p.display().to_string());
        }
    }
    // COPY sources are relative to the build context, the repository root.
    let dockerfile = std::fs::read_to_string(root().join("docker/Dockerfile")).unwrap();
    for line in dockerfile.lines().map(str::trim).filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for src in &words[1..words.len() - 1] {
            if !root().join(src).exists() {
                missing.push(format!("Dockerfile: {src}"));
            }
        }
    }
    assert!(dockerfile.contains("USER shardgate") && dockerfile.contains("HEALTHCHECK"), "non-root user and a health check");
    assert!(missing.is_empty(), "missing: {missing:?}");
}

#[test]
fn scripts_pass_shellcheck() {
    let scripts = [root().join("docker/init/replica.sh"), root().join("docker/bench.sh")];
    let out = Command::new("shellcheck").args(&scripts).output().expect("shellcheck (tests/run.sh installs it)");
    assert!(out.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn docker_rules_pass_shardgate_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_shardgate")).args(["check", "--config"]).arg(Path::new(&root()).join("docker/rules.toml")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
