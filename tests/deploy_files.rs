//! The deploy files agree with the project: the Dockerfile's placeholder build names every
//! target the manifest declares (a new bench would otherwise break `docker build`), and
//! the image, compose file and Amvera config put the data in the same place.

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_dockerfile_placeholders_cover_every_declared_bench() {
    let manifest = read("Cargo.toml");
    let dockerfile = read("Dockerfile");
    let loop_line = dockerfile.lines().find(|l| l.contains("for b in")).expect("the placeholder loop");
    let mut benches = 0;
    for block in manifest.split("[[bench]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"'))
            .expect("a bench name");
        assert!(
            loop_line.split_whitespace().any(|w| w.trim_end_matches(';') == name),
            "bench {name} has no placeholder: {loop_line}"
        );
        benches += 1;
    }
    assert!(benches >= 1);
    for member in ["fakes", "lab"] {
        assert!(dockerfile.contains(&format!("COPY {member}/Cargo.toml")), "workspace member {member}");
    }
}

#[test]
fn the_image_compose_and_amvera_keep_data_in_one_place() {
    assert!(read("Dockerfile").contains("DATA_DIR=/data"));
    assert!(read("docker-compose.yml").contains("backdrop-data:/data"));
    assert!(read("amvera.yml").contains("persistenceMount: /data"));
    let ignored = read(".dockerignore");
    for never in ["target/", ".git/", ".env"] {
        assert!(ignored.lines().any(|l| l.trim() == never), "{never} stays out of the build context");
    }
}
