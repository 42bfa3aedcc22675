//! End-to-end tests: the real `provision` binary against moto's EC2 server.
//! Each test starts its own moto on a free loopback port.

mod helpers;

use std::os::unix::fs::PermissionsExt;

use helpers::{between_all, closed_port, World, PUBLIC_KEY};
use serde_json::Value;

fn mutating(report: &Value) -> u64 {
    report["calls"]["mutating"].as_u64().unwrap()
}

fn states(status: &Value) -> Vec<(String, String)> {
    status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_fresh_up_builds_the_stack_and_a_second_up_changes_nothing() {
    let w = World::new();

    let first = w.up("kb", &[]).expect_code(0);
    let r = first.json();
    let ip = r["elastic_ip"].as_str().unwrap().to_owned();
    let key = w.key_file("kb");
    assert!(r["instance_id"].as_str().unwrap().starts_with("i-"));
    assert_eq!(r["app_url"], format!("https://{ip}"));
    assert_eq!(
        r["skill_urls"],
        serde_json::json!([
            format!("https://{ip}/quiz/skill"),
            format!("https://{ip}/lunch/skill")
        ])
    );
    assert_eq!(r["docs_url"], format!("https://{ip}/docs"));
    assert!(r["legacy_url"].is_null(), "no extra port unless asked");
    assert_eq!(r["ssh"], format!("ssh -i {} ubuntu@{ip}", key.display()));
    assert_eq!(r["up_to_date"], false);
    // Key pair, group, rules, instance, address, association.
    assert_eq!(mutating(&r), 6, "{}", first.stdout);
    // Four reads, the default VPC, the image, six changes and the wait.
    let total = r["calls"]["total"].as_u64().unwrap();
    assert!(total <= 13, "{total} EC2 calls: {}", first.stdout);
    // The newest Canonical 24.04 amd64 server image, not the newer arm64,
    // EKS, Pro, minimal or look-alike ones.
    assert!(
        first.stdout.contains("from ami-0b0000000000002404"),
        "{}",
        first.stdout
    );
    // The private key arrived once and is stored privately.
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .contains("PRIVATE KEY"));
    assert!(first.stderr.contains("no user data"), "{}", first.stderr);

    let second = w.up("kb", &["-v"]).expect_code(0);
    let r2 = second.json();
    assert_eq!(r2["up_to_date"], true);
    assert_eq!(mutating(&r2), 0, "{}", second.stdout);
    assert_eq!(r2["calls"]["total"], 4, "{}", second.stdout);
    assert_eq!(r2["elastic_ip"], ip.as_str());
    assert!(
        second.stderr.contains("EC2 calls: 4 (0 mutating"),
        "{}",
        second.stderr
    );
}

#[test]
fn the_text_output_says_the_stack_is_up_to_date_on_the_second_run() {
    let w = World::new();
    w.up("kb", &[]).expect_code(0);
    let r = w
        .run(&["up", "--name", "kb", "--ssh-cidr", "203.0.113.7/32"])
        .expect_code(0);
    assert!(
        r.stdout.contains("stack kb in us-east-1 is up to date"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ssh -i "), "{}", r.stdout);
    assert!(r.stdout.contains("/docs"), "{}", r.stdout);
}

#[test]
fn status_reports_missing_then_complete() {
    let w = World::new();
    let before = w.status("kb").expect_code(3);
    assert!(
        states(&before.json()).iter().all(|(_, s)| s == "missing"),
        "{}",
        before.stdout
    );

    w.up("kb", &[]).expect_code(0);
    let after = w.status("kb").expect_code(0);
    let json = after.json();
    assert_eq!(json["complete"], true);
    let s = states(&json);
    assert!(s.contains(&("instance".into(), "running".into())), "{s:?}");
    assert!(
        s.contains(&("elastic ip".into(), "associated".into())),
        "{s:?}"
    );
}

#[test]
fn down_leaves_nothing_tagged_and_running_it_twice_is_fine() {
    let w = World::new();
    w.up("kb", &[]).expect_code(0);
    assert!(!w.moto().tagged("kb").is_empty());

    let down = w.down("kb", &[]).expect_code(0);
    let r = down.json();
    assert_eq!(
        r["not_removed"].as_array().unwrap().len(),
        0,
        "{}",
        down.stdout
    );
    assert_eq!(r["key_file"]["fate"], "kept");
    assert!(
        w.key_file("kb").exists(),
        "the private key stays without --purge-key"
    );
    // Independently of provision's own discovery, per resource type (moto's
    // DescribeTags keeps the tags of deleted key pairs and groups): no key
    // pair, no tagged group, no instance that is not terminated, and no
    // address at all.
    let moto = w.moto();
    let key_pairs = moto.query("DescribeKeyPairs", &[]);
    assert!(!key_pairs.contains("<keyName>"), "{key_pairs}");
    let groups = moto.query(
        "DescribeSecurityGroups",
        &[
            ("Filter.1.Name", "tag:kakaobot:stack"),
            ("Filter.1.Value.1", "kb"),
        ],
    );
    assert!(!groups.contains("<groupId>"), "{groups}");
    let instances = moto.query("DescribeInstances", &[]);
    let live = between_all(&instances, "<name>", "</name>")
        .into_iter()
        .filter(|s| s != "terminated")
        .count();
    assert_eq!(live, 0, "{instances}");
    assert!(moto.addresses().is_empty());
    let status = w.status("kb").expect_code(3);
    assert!(states(&status.json()).iter().all(|(_, s)| s == "missing"));

    let again = w.down("kb", &["--purge-key"]).expect_code(0);
    assert!(again.stdout.contains("\"steps\": []"), "{}", again.stdout);
    assert!(
        !w.key_file("kb").exists(),
        "--purge-key deletes the private key"
    );
}

#[test]
fn down_asks_for_confirmation_and_refuses_without_a_terminal() {
    let w = World::new();
    w.up("kb", &[]).expect_code(0);
    let r = w.run(&["down", "--name", "kb"]).expect_code(1);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    w.run(&["status", "--name", "kb"]).expect_code(0);
}

#[test]
fn two_stacks_side_by_side_do_not_touch_each_other() {
    let w = World::new();
    let a = w.up("alpha", &[]).expect_code(0).json();
    let beta = w
        .up("beta", &["--ami", "ami-0a0000000000002404"])
        .expect_code(0);
    assert!(
        beta.stdout.contains("from ami-0a0000000000002404"),
        "{}",
        beta.stdout
    );
    let b = beta.json();
    assert_ne!(a["instance_id"], b["instance_id"]);
    assert_ne!(a["elastic_ip"], b["elastic_ip"]);
    // Each stack's second run is a no-op even with the other one present.
    assert_eq!(mutating(&w.up("alpha", &[]).expect_code(0).json()), 0);

    w.down("alpha", &[]).expect_code(0);
    w.run(&["status", "--name", "beta"]).expect_code(0);
    assert_eq!(w.moto().addresses().len(), 1);
    assert_eq!(mutating(&w.up("beta", &[]).expect_code(0).json()), 0);
}

#[test]
fn dry_run_changes_nothing() {
    let w = World::new();
    let r = w.up("kb", &["--dry-run"]).expect_code(0);
    let json = r.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(mutating(&json), 0);
    // EC2 is asked about the three changes that use no new resource (key
    // pair, group, address); the others depend on those and say so.
    assert_eq!(json["calls"]["dry_run"], 3, "{}", r.stdout);
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps[0]["call"], "CreateKeyPair");
    assert_eq!(steps[0]["outcome"], "permitted");
    let launch = &steps[3];
    assert_eq!(launch["call"], "RunInstances");
    assert_eq!(launch["outcome"], "depends", "{}", r.stdout);
    assert_eq!(
        launch["on"][1], "the security group this plan creates (step 2)",
        "{}",
        r.stdout
    );
    assert_eq!(steps[6]["call"], "AssociateAddress");
    assert_eq!(
        steps[6]["on"][1], "the instance this plan launches (step 4)",
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("NotFound"), "{}", r.stdout);
    // What would be launched: the image by id and name, the type, the user data.
    assert_eq!(json["launch"]["image"]["id"], "ami-0b0000000000002404");
    assert!(json["launch"]["image"]["name"]
        .as_str()
        .unwrap()
        .contains("24.04-amd64-server"));
    assert_eq!(json["launch"]["instance_type"], "t2.micro");
    assert_eq!(json["launch"]["user_data"], Value::Null);
    assert!(w.moto().tagged("kb").is_empty());
    assert!(!w.key_file("kb").exists());
    w.status("kb").expect_code(3);

    // And for down.
    w.up("kb", &[]).expect_code(0);
    let d = w.down("kb", &["--dry-run"]).expect_code(0).json();
    assert_eq!(mutating(&d), 0);
    w.run(&["status", "--name", "kb"]).expect_code(0);
}

#[test]
fn a_dry_run_in_text_names_the_image_the_type_the_user_data_and_each_verdict() {
    let w = World::new();
    let cloud_init = w.cwd.path().join("deploy");
    std::fs::create_dir_all(&cloud_init).unwrap();
    std::fs::write(cloud_init.join("cloud-init.yaml"), "#cloud-config\n").unwrap();
    let r = w
        .run(&[
            "up",
            "--name",
            "kb",
            "--ssh-cidr",
            "203.0.113.7/32",
            "--dry-run",
        ])
        .expect_code(0);
    let out = &r.stdout;
    assert!(
        out.contains("image      ami-0b0000000000002404 (ubuntu/images/"),
        "{out}"
    );
    assert!(out.contains("type       t2.micro"), "{out}");
    assert!(out.contains("user data  deploy/cloud-init.yaml"), "{out}");
    assert!(
        out.contains("1. would create ed25519 key pair kb") && out.contains(": permitted"),
        "{out}"
    );
    assert!(
        out.contains(
            "7. would associate Elastic IP (new, step 6) with instance (new, step 4): \
             not checked: depends on the Elastic IP this plan allocates (step 6) and the \
             instance this plan launches (step 4)"
        ),
        "{out}"
    );
    assert!(w.moto().tagged("kb").is_empty());
}

#[test]
fn a_dry_run_of_an_up_to_date_stack_asks_nothing() {
    let w = World::new();
    w.up("kb", &[]).expect_code(0);
    let r = w.up("kb", &["--dry-run"]).expect_code(0).json();
    assert_eq!(r["steps"].as_array().unwrap().len(), 0);
    assert_eq!(r["launch"], Value::Null);
    assert_eq!(r["calls"]["total"], 4);
}

#[test]
fn an_ami_that_does_not_exist_stops_up_before_any_change() {
    let w = World::new();
    let r = w
        .up("kb", &["--ami", "ami-0123456789abcdef0"])
        .expect_code(1);
    assert!(
        r.stderr.contains("ami-0123456789abcdef0") && r.stderr.contains("--ami"),
        "{}",
        r.stderr
    );
    assert!(w.moto().tagged("kb").is_empty());
    assert!(!w.key_file("kb").exists());
}

#[test]
fn a_half_finished_up_is_finished_without_duplicates() {
    // As if killed after the instance launched: drop the address.
    let w = World::new();
    let first = w.up("kb", &[]).expect_code(0).json();
    let moto = w.moto();
    let allocation = moto.addresses().pop().unwrap();
    let xml = moto.query("DescribeAddresses", &[]);
    let association = between_all(&xml, "<associationId>", "</associationId>")
        .pop()
        .unwrap();
    moto.query("DisassociateAddress", &[("AssociationId", &association)]);
    moto.query("ReleaseAddress", &[("AllocationId", &allocation)]);
    w.status("kb").expect_code(3);

    let second = w.up("kb", &[]).expect_code(0).json();
    assert_eq!(second["instance_id"], first["instance_id"]);
    assert_eq!(second["calls"]["by_action"]["AllocateAddress"], 1);
    assert_eq!(second["calls"]["by_action"]["AssociateAddress"], 1);
    assert_eq!(mutating(&second), 2);
    assert_eq!(moto.addresses().len(), 1);
}

#[test]
fn an_unassociated_address_is_flagged_and_then_associated() {
    let w = World::new();
    w.up("kb", &[]).expect_code(0);
    let moto = w.moto();
    let xml = moto.query("DescribeAddresses", &[]);
    let association = between_all(&xml, "<associationId>", "</associationId>")
        .pop()
        .unwrap();
    moto.query("DisassociateAddress", &[("AssociationId", &association)]);

    let status = w.run(&["status", "--name", "kb"]).expect_code(3);
    assert!(
        status.stdout.contains("billed by the hour"),
        "{}",
        status.stdout
    );
    let up = w.up("kb", &[]).expect_code(0).json();
    assert_eq!(mutating(&up), 1);
    assert_eq!(moto.addresses().len(), 1);
}

#[test]
fn an_existing_tagged_group_is_adopted_and_the_rest_converges() {
    let w = World::new();
    let moto = w.moto();
    let vpc_xml = moto.query("DescribeVpcs", &[]);
    let vpc = between_all(&vpc_xml, "<vpcId>", "</vpcId>").remove(0);
    let xml = moto.query(
        "CreateSecurityGroup",
        &[
            ("GroupName", "kb"),
            ("GroupDescription", "made by hand"),
            ("VpcId", &vpc),
            ("TagSpecification.1.ResourceType", "security-group"),
            ("TagSpecification.1.Tag.1.Key", "kakaobot:stack"),
            ("TagSpecification.1.Tag.1.Value", "kb"),
        ],
    );
    let group = between_all(&xml, "<groupId>", "</groupId>").remove(0);
    // A rule the stack does not want: reconciled away.
    moto.query(
        "AuthorizeSecurityGroupIngress",
        &[
            ("GroupId", &group),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "3306"),
            ("IpPermissions.1.ToPort", "3306"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
        ],
    );

    let r = w.up("kb", &[]).expect_code(0).json();
    let calls = &r["calls"]["by_action"];
    assert!(calls.get("CreateSecurityGroup").is_none(), "{calls}");
    assert_eq!(calls["AuthorizeSecurityGroupIngress"], 1);
    assert_eq!(calls["RevokeSecurityGroupIngress"], 1);
    let s = w.status("kb").expect_code(0);
    assert!(s.stdout.contains(&group), "{}", s.stdout);
}

#[test]
fn drifted_rules_are_reconciled() {
    let w = World::new();
    w.up("kb", &[]).expect_code(0);
    let r = w
        .run(&[
            "up",
            "--name",
            "kb",
            "--ssh-cidr",
            "192.0.2.0/24",
            "--port",
            "8080",
            "--output",
            "json",
        ])
        .expect_code(0)
        .json();
    assert_eq!(r["calls"]["by_action"]["AuthorizeSecurityGroupIngress"], 1);
    assert_eq!(r["calls"]["by_action"]["RevokeSecurityGroupIngress"], 1);
    assert_eq!(mutating(&r), 2);
    assert!(r["legacy_url"].as_str().unwrap().ends_with(":8080"));
    w.run(&[
        "status",
        "--name",
        "kb",
        "--ssh-cidr",
        "192.0.2.0/24",
        "--port",
        "8080",
    ])
    .expect_code(0);
    w.run(&["status", "--name", "kb", "--ssh-cidr", "203.0.113.7/32"])
        .expect_code(3);
}

#[test]
fn an_existing_private_key_file_is_never_overwritten() {
    let w = World::new();
    let key = w.key_file("kb");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, "mine").unwrap();
    let r = w.up("kb", &[]).expect_code(1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "mine");
    assert!(w.moto().tagged("kb").is_empty());
}

#[test]
fn a_key_pair_without_its_private_key_stops_before_launching() {
    let w = World::new();
    w.moto().query(
        "CreateKeyPair",
        &[
            ("KeyName", "kb"),
            ("TagSpecification.1.ResourceType", "key-pair"),
            ("TagSpecification.1.Tag.1.Key", "kakaobot:stack"),
            ("TagSpecification.1.Tag.1.Value", "kb"),
        ],
    );
    let r = w.up("kb", &[]).expect_code(1);
    assert!(r.stderr.contains("private key"), "{}", r.stderr);
    assert!(r.stderr.contains("--public-key"), "{}", r.stderr);
    let xml = w.moto().query("DescribeInstances", &[]);
    assert!(!xml.contains("<instanceId>"), "no instance may be launched");
}

#[test]
fn an_imported_public_key_is_used_instead_of_a_new_key_pair() {
    let w = World::new();
    let pub_path = w.cwd.path().join("id_ed25519.pub");
    std::fs::write(&pub_path, format!("{PUBLIC_KEY}\n")).unwrap();
    let run = w
        .up(
            "kb",
            &[
                "--public-key",
                pub_path.to_str().unwrap(),
                "--ubuntu",
                "22.04",
            ],
        )
        .expect_code(0);
    // The newest 22.04 server image.
    assert!(
        run.stdout.contains("from ami-0b0000000000002204"),
        "{}",
        run.stdout
    );
    let r = run.json();
    assert_eq!(r["calls"]["by_action"]["ImportKeyPair"], 1);
    assert!(r["calls"]["by_action"].get("CreateKeyPair").is_none());
    assert!(!w.key_file("kb").exists());
}

#[test]
fn user_data_is_sent_when_given() {
    let w = World::new();
    let cloud_init = w.cwd.path().join("deploy");
    std::fs::create_dir_all(&cloud_init).unwrap();
    std::fs::write(
        cloud_init.join("cloud-init.yaml"),
        "#cloud-config\npackages: [redis-server]\n",
    )
    .unwrap();
    // The default path, relative to the working directory.
    let r = w.up("kb", &[]).expect_code(0);
    assert_eq!(r.json()["user_data"], "deploy/cloud-init.yaml");
    let id = r.json()["instance_id"].as_str().unwrap().to_owned();
    let xml = w.moto().query(
        "DescribeInstanceAttribute",
        &[("InstanceId", &id), ("Attribute", "userData")],
    );
    // base64 of "#cloud-config\n…"
    assert!(xml.contains("I2Nsb3VkLWNvbmZpZw"), "{xml}");
    // IMDSv2 required, and tagged at launch.
    let xml = w
        .moto()
        .query("DescribeInstances", &[("InstanceId.1", &id)]);
    assert!(xml.contains("<httpTokens>required</httpTokens>"), "{xml}");
    assert!(xml.contains("<key>kakaobot:stack</key>"), "{xml}");
    assert!(xml.contains("<key>Name</key>"), "{xml}");
}

#[test]
fn invalid_flags_fail_before_any_aws_call() {
    // No emulator: any AWS call would fail with a connection error instead.
    let w = World::offline();
    let cases: &[(&[&str], &str)] = &[
        (&["up", "--ssh-cidr", "10.0.0.1/8"], "--ssh-cidr"),
        (&["up", "--ssh-cidr", "nonsense"], "--ssh-cidr"),
        (
            &["up", "--ssh-cidr", "1.2.3.4/32", "--app-cidr", "0.0.0.0/33"],
            "--app-cidr",
        ),
        (&["up", "--ssh-cidr", "1.2.3.4/32", "--port", "0"], "--port"),
        (
            &["up", "--ssh-cidr", "1.2.3.4/32", "--port", "70000"],
            "--port",
        ),
        (
            &["up", "--ssh-cidr", "1.2.3.4/32", "--name", "bad name"],
            "--name",
        ),
        (
            &["up", "--ssh-cidr", "1.2.3.4/32", "--ubuntu", "23.10"],
            "--ubuntu",
        ),
        (
            &["up", "--ssh-cidr", "1.2.3.4/32", "--ami", "image"],
            "--ami",
        ),
        (
            &["up", "--ssh-cidr", "1.2.3.4/32", "--instance-type", "huge"],
            "--instance-type",
        ),
        (
            &[
                "up",
                "--ssh-cidr",
                "1.2.3.4/32",
                "--public-key",
                "/nonexistent.pub",
            ],
            "--public-key",
        ),
        (
            &[
                "up",
                "--ssh-cidr",
                "1.2.3.4/32",
                "--user-data",
                "/nonexistent.yaml",
            ],
            "--user-data",
        ),
        (&["status", "--port", "22"], "--port"),
        (&["up", "--port", "abc"], "--port"),
        (&["up", "--ssh-cidr", "300.1.1.1/99"], "--ssh-cidr"),
        (&["status", "--region", "EU West"], "--region"),
    ];
    for (args, flag) in cases {
        // A malformed value is a usage error (2) from clap's own parsing; a
        // file that cannot be read or used is an error (1).
        let usage = !matches!(*flag, "--public-key" | "--user-data");
        let r = w.run(args).expect_code(if usage { 2 } else { 1 });
        assert!(r.stderr.contains(flag), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains(" failed: "),
            "{args:?} reached AWS: {}",
            r.stderr
        );
    }
    let r = w.run(&["up", "--output", "yaml"]);
    assert_eq!(r.code, 2, "clap usage error: {}", r.stderr);
}

#[test]
fn a_failed_address_detection_asks_for_ssh_cidr() {
    let w = World::offline();
    let r = w
        .run_with(w.command().args(["up"]).env(
            "PROVISION_CHECKIP_URL",
            format!("http://127.0.0.1:{}/", closed_port()),
        ))
        .expect_code(1);
    assert!(
        r.stderr
            .contains("could not detect this machine's public address"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--ssh-cidr"), "{}", r.stderr);
}

#[test]
fn no_region_is_a_clear_error() {
    let w = World::offline();
    let r = w
        .run_with(w.command().args(["status"]).env_remove("AWS_REGION"))
        .expect_code(1);
    assert!(r.stderr.contains("no AWS region"), "{}", r.stderr);
}

#[test]
fn missing_credentials_are_a_clear_error_with_a_hint() {
    let w = World::offline();
    let r = w
        .run_with(
            w.command()
                .args(["status"])
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY"),
        )
        .expect_code(1);
    assert!(r.stderr.contains("no credentials"), "{}", r.stderr);
    assert!(r.stderr.contains("aws configure"), "{}", r.stderr);
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
}

#[test]
fn an_unreachable_endpoint_names_the_call_and_hints() {
    let w = World::offline();
    let r = w.run(&["status"]).expect_code(1);
    assert!(r.stderr.contains("EC2 Describe"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
}

#[test]
fn shell_completions_are_printed() {
    let w = World::offline();
    let r = w.run(&["completions", "bash"]).expect_code(0);
    assert!(r.stdout.contains("provision"), "{}", r.stdout);
    assert!(r.stdout.contains("--ssh-cidr"));
}

#[test]
fn a_stopped_instance_is_started_again() {
    let w = World::new();
    let first = w.up("kb", &[]).expect_code(0).json();
    let id = first["instance_id"].as_str().unwrap();
    w.moto().query("StopInstances", &[("InstanceId.1", id)]);
    let status = w.run(&["status", "--name", "kb"]).expect_code(3);
    assert!(status.stdout.contains("stopped"), "{}", status.stdout);

    let r = w.up("kb", &[]).expect_code(0).json();
    assert_eq!(r["instance_id"], id);
    assert_eq!(r["calls"]["by_action"]["StartInstances"], 1);
    assert!(r["calls"]["by_action"].get("RunInstances").is_none());
    w.run(&["status", "--name", "kb"]).expect_code(0);
}

#[test]
fn a_duplicate_instance_is_terminated_and_the_original_kept() {
    let w = World::new();
    let first = w.up("kb", &[]).expect_code(0).json();
    // A second tagged instance, as a retried launch without client-token
    // idempotency could leave.
    let xml = w.moto().query(
        "RunInstances",
        &[
            ("ImageId", "ami-0b0000000000002404"),
            ("InstanceType", "t2.micro"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "kakaobot:stack"),
            ("TagSpecification.1.Tag.1.Value", "kb"),
        ],
    );
    let duplicate = between_all(&xml, "<instanceId>", "</instanceId>").remove(0);
    let status = w.run(&["status", "--name", "kb"]).expect_code(3);
    assert!(status.stdout.contains(&duplicate), "{}", status.stdout);

    let r = w.up("kb", &[]).expect_code(0).json();
    assert_eq!(r["instance_id"], first["instance_id"]);
    assert_eq!(r["calls"]["by_action"]["TerminateInstances"], 1);
    assert_eq!(mutating(&r), 1);
    w.run(&["status", "--name", "kb"]).expect_code(0);
}
