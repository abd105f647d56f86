//! Tests for the scaffolder: every template into a temporary directory, the refusal to
//! overwrite, template names and dependency lines. Plugin-name rules are tested in `name.rs`.

use super::*;

fn options(dir: &Path, name: &str, template: Template) -> ScaffoldOptions {
    ScaffoldOptions {
        name: name.to_owned(),
        template,
        dir: dir.to_owned(),
        plugin_api: PluginApiSource::Path(PathBuf::from("/opt/tasker/plugin-api")),
    }
}

#[test]
fn every_template_writes_a_complete_crate_with_the_name_filled_in() {
    let temp = tempfile::tempdir().unwrap();
    for template in Template::ALL {
        let name = format!("my-{template}");
        let crate_dir = scaffold(&options(temp.path(), &name, template)).unwrap();
        assert_eq!(crate_dir, temp.path().join(&name));
        let read = |file: &str| fs::read_to_string(crate_dir.join(file)).unwrap();
        for file in ["Cargo.toml", "README.md", ".gitignore", "src/lib.rs"] {
            assert!(
                !read(file).contains("{{"),
                "{template}: {file} has an unfilled placeholder"
            );
        }
        let cargo_toml = read("Cargo.toml");
        assert!(
            cargo_toml.contains(&format!("name = \"{name}\"")),
            "{cargo_toml}"
        );
        assert!(cargo_toml.contains(r#"crate-type = ["cdylib", "rlib"]"#));
        assert!(cargo_toml.contains("\n[workspace]\n"));
        assert!(cargo_toml.contains(r#"tasker-plugin-api = { path = "/opt/tasker/plugin-api" }"#));
        assert_eq!(
            cargo_toml.contains("reqwest"),
            template == Template::ApiGateway
        );
        let lib_rs = read("src/lib.rs");
        assert!(lib_rs.contains(&format!("pub const SERVICE_NAME: &str = \"{name}\";")));
        assert!(lib_rs.contains(&format!("export_plugin!({});", type_name(&name))));
        let readme = read("README.md");
        assert!(readme.contains(&format!(
            "cp target/release/{} plugins/",
            library_file_name(&name)
        )));
        assert!(
            readme.contains(&format!("/services/{name}/")),
            "{template}: usage section missing"
        );
    }
}

#[test]
fn refuses_a_non_empty_directory_but_fills_an_empty_one() {
    let temp = tempfile::tempdir().unwrap();
    fs::create_dir(temp.path().join("taken")).unwrap();
    fs::write(temp.path().join("taken/keep.txt"), "mine").unwrap();
    let error = scaffold(&options(temp.path(), "taken", Template::Echo)).unwrap_err();
    assert!(
        matches!(error, ScaffoldError::TargetNotEmpty { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("already exists"));
    assert_eq!(
        fs::read_to_string(temp.path().join("taken/keep.txt")).unwrap(),
        "mine"
    );

    fs::write(temp.path().join("a-file"), "").unwrap();
    let error = scaffold(&options(temp.path(), "a-file", Template::Echo)).unwrap_err();
    assert!(
        matches!(error, ScaffoldError::TargetNotEmpty { .. }),
        "{error}"
    );

    fs::create_dir(temp.path().join("empty")).unwrap();
    scaffold(&options(temp.path(), "empty", Template::Echo)).unwrap();
    assert!(temp.path().join("empty/src/lib.rs").is_file());
}

#[test]
fn creates_missing_parent_directories() {
    let temp = tempfile::tempdir().unwrap();
    let parent = temp.path().join("a/b");
    let crate_dir = scaffold(&options(&parent, "deep", Template::HelloWorld)).unwrap();
    assert!(crate_dir.join("Cargo.toml").is_file());
}

#[test]
fn a_bad_name_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let error = scaffold(&options(temp.path(), "../escape", Template::Echo)).unwrap_err();
    assert!(
        matches!(error, ScaffoldError::InvalidName { .. }),
        "{error}"
    );
    assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 0);
}

#[test]
fn template_names_parse_and_print() {
    for template in Template::ALL {
        assert_eq!(template.as_str().parse::<Template>().unwrap(), template);
    }
    assert_eq!("echo-service".parse::<Template>().unwrap(), Template::Echo);
    let message = "rest".parse::<Template>().unwrap_err().to_string();
    assert!(
        message.contains("hello-world, echo, api-gateway"),
        "{message}"
    );
}

#[test]
fn plugin_api_sources_become_dependency_lines() {
    let version = PluginApiSource::Version("0.1".into());
    assert_eq!(version.dependency_line(), r#"tasker-plugin-api = "0.1""#);
    let odd = PluginApiSource::Path(PathBuf::from(r#"/tmp/we"ird\dir"#));
    assert_eq!(
        odd.dependency_line(),
        r#"tasker-plugin-api = { path = "/tmp/we\"ird\\dir" }"#
    );
    let relative = PluginApiSource::Path(PathBuf::from("plugin-api"));
    let expected = std::env::current_dir().unwrap().join("plugin-api");
    assert!(
        relative
            .dependency_line()
            .contains(&*expected.to_string_lossy())
    );
}
