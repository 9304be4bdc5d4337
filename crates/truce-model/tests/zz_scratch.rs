use truce_model::agreement::*;
#[test]
fn scratch() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/donbas");
    let text = std::fs::read_to_string(dir.join("agreement.toml")).unwrap();
    match check("agreement.toml", &text, &DirResolver::new(&dir)) {
        Ok(a) => println!("OK {} zones {}", a.id, a.zones.len()),
        Err(p) => {
            for x in p {
                println!("{x}");
            }
        }
    }
    let samples = [
        "id = \"x\"\ntitle = \"t\"\nparties = [\n  { id = \"A\", name = \"a\"\n]\n",
        "a = 1\n[b\n",
        "x = \"unterminated\n",
        "[[zones]]\nid = 1\n[zones]\n",
        "",
        "id = 5\nparties = 3\nzones = [1, \"x\", { id = \"z\" }]\n[verification]\ncluster_km = \"a\"\n",
    ];
    for s in samples {
        println!("---");
        match check("f.toml", s, &MapResolver(Default::default())) {
            Ok(_) => println!("ok"),
            Err(p) => {
                for x in p {
                    println!("{x}");
                }
            }
        }
    }
}
