//! `README.ko.md` kept in step with `README.md` and the code: every setting, every
//! `provision` subcommand and flag, and every shell command of the operator's path in
//! the English README are in the Korean one, and the Korean one names no setting or
//! flag that does not exist; its links find their headings and its example question
//! bank loads. What exists is read from the code: the settings table
//! ([`kakaobot::config::SETTINGS`]), the clap definitions of `provision` and
//! `kakaobot`, and the options `deploy.sh` parses.

use std::collections::BTreeSet;
use std::path::Path;

use kakaobot::bots::QuestionBank;
use kakaobot::config::{Setting, ENV_PREFIX, SETTINGS};

/// `--config`'s variable, read by clap: not a setting, but one an operator may use.
const CONFIG_VARIABLE: &str = "KAKAOBOT_CONFIG";

/// Sections of `README.md` that are not the operator's path: the API reference, the
/// benchmarks, the contributors' notes and the test suites' instructions.
const NOT_THE_OPERATORS_PATH: [&str; 4] = ["API", "Benchmarks", "Working on kakaobot", "Tests"];

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn korean() -> String {
    repo_file("README.ko.md")
}

/// Words of `text` made of `A-Z`, `0-9` and `_` that start with `prefix`.
fn names_with_prefix(text: &str, prefix: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| word.starts_with(prefix) && word.len() > prefix.len())
        .map(str::to_owned)
        .collect()
}

fn settings() -> BTreeSet<String> {
    SETTINGS
        .iter()
        .map(Setting::env)
        .chain([CONFIG_VARIABLE.to_owned()])
        .collect()
}

#[test]
fn every_setting_is_in_the_korean_readme() {
    let missing: Vec<_> = settings()
        .difference(&names_with_prefix(&korean(), ENV_PREFIX))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "README.ko.md does not mention {missing:?}"
    );
}

#[test]
fn the_korean_readme_names_only_settings_that_exist() {
    let unknown: Vec<_> = names_with_prefix(&korean(), ENV_PREFIX)
        .difference(&settings())
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "README.ko.md names settings that service/src/config.rs does not declare: {unknown:?}"
    );
}

#[test]
fn the_korean_settings_table_shows_the_code_defaults() {
    let korean = korean();
    for setting in SETTINGS {
        let Some(row) = korean
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", setting.env())))
        else {
            continue;
        };
        let default = match setting.default {
            "" => "없음".to_owned(),
            default => format!("`{default}`"),
        };
        assert!(
            row.contains(&format!("| {default} |")),
            "README.ko.md shows another default for {}; the code's is {default}:\n{row}",
            setting.env()
        );
    }
}

/// The options and subcommands a clap derive definition declares, read from its
/// source: the fields under `#[arg(...)]` with `long` or `short`, and the variants of
/// `enum Command`.
struct ClapDefinition {
    /// `--long` and `-s` forms of every flag the help shows.
    flags: BTreeSet<String>,
    /// Flags with `hide = true`: they exist, but need not be documented.
    hidden: BTreeSet<String>,
    subcommands: BTreeSet<String>,
    /// The `env = "..."` fallbacks.
    env: BTreeSet<String>,
}

impl ClapDefinition {
    fn read(path: &str) -> Self {
        let source = repo_file(path);
        let mut definition = ClapDefinition {
            flags: ["--help", "--version", "-h", "-V"]
                .map(str::to_owned)
                .into(),
            hidden: BTreeSet::new(),
            subcommands: BTreeSet::new(),
            env: BTreeSet::new(),
        };
        let mut attribute: Option<String> = None;
        let mut in_commands = false;
        for line in source.lines().map(str::trim) {
            if line
                .trim_start_matches("pub ")
                .starts_with("enum Command {")
            {
                in_commands = true;
            } else if in_commands && line == "}" {
                in_commands = false;
            } else if in_commands && line.starts_with(|c: char| c.is_ascii_uppercase()) {
                let variant = line.split(['(', ',', ' ', '{']).next().unwrap();
                definition.subcommands.insert(kebab(variant));
            }
            if line.starts_with("#[arg(") {
                attribute = Some(String::new());
            }
            if let Some(attr) = attribute.as_mut() {
                attr.push_str(line);
                if let Some(field) = field_name(line) {
                    definition.add(attr, field);
                    attribute = None;
                }
            }
        }
        assert!(
            definition.flags.len() > 4,
            "no flags found in {path}: has its clap definition moved?"
        );
        definition
    }

    fn add(&mut self, attribute: &str, field: &str) {
        let words: Vec<&str> = attribute
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let mut flags = Vec::new();
        if words.contains(&"long") {
            flags.push(match quoted_after(attribute, "long = \"") {
                Some(name) => format!("--{name}"),
                None => format!("--{}", field.replace('_', "-")),
            });
        }
        if words.contains(&"short") {
            let short =
                quoted_after(attribute, "short = '").unwrap_or_else(|| field[..1].to_owned());
            flags.push(format!("-{short}"));
        }
        if let Some(env) = quoted_after(attribute, "env = \"") {
            self.env.insert(env);
        }
        let target = if attribute.contains("hide = true") {
            &mut self.hidden
        } else {
            &mut self.flags
        };
        target.extend(flags);
    }

    fn exists(&self, flag: &str) -> bool {
        self.flags.contains(flag) || self.hidden.contains(flag)
    }
}

/// The field a line declares (`pub name: Type,` or `name: Type,`).
fn field_name(line: &str) -> Option<&str> {
    let line = line.strip_prefix("pub ").unwrap_or(line);
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let rest = &line[end..];
    (end > 0 && rest.starts_with(':') && !rest.starts_with("::")).then(|| &line[..end])
}

/// Whether `flag` exists for one of `known`; `-vv` is `-v` twice.
fn flag_exists(flag: &str, known: &dyn Fn(&str) -> bool) -> bool {
    if flag.starts_with("--") || flag.len() <= 2 {
        return known(flag);
    }
    flag[1..].chars().all(|c| known(&format!("-{c}")))
}

/// `UpAgain` → `up-again`, as clap names subcommands.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The text between `opening` and the next quote of the same kind.
fn quoted_after(text: &str, opening: &str) -> Option<String> {
    let quote = opening.chars().last().unwrap();
    let rest = &text[text.find(opening)? + opening.len()..];
    Some(rest[..rest.find(quote)?].to_owned())
}

/// The options `deploy.sh` parses: its `case` patterns (`--key)`, `-h | --help)`).
fn deploy_flags() -> BTreeSet<String> {
    let script = repo_file("deploy/deploy.sh");
    let flags: BTreeSet<String> = script
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('-') && l.contains(')'))
        .flat_map(|l| l[..l.find(')').unwrap()].split('|'))
        .map(|flag| flag.trim().to_owned())
        .collect();
    assert!(flags.contains("--key"), "no options found in deploy.sh");
    flags
}

/// The flags on a line after `command` (a word of the line): `--long` and `-s` words
/// up to a shell operator.
fn flags_after<'a>(line: &'a str, command: &str) -> Option<Vec<&'a str>> {
    let mut words = line.split_whitespace();
    words.by_ref().find(|w| w.ends_with(command))?;
    Some(
        words
            .take_while(|w| !matches!(*w, "|" | "&&" | ";" | ">" | "&"))
            .map(|w| w.trim_matches(['[', ']']))
            .filter(|w| w.starts_with('-') && *w != "--" && w.len() > 1)
            .map(|w| w.split('=').next().unwrap())
            .collect(),
    )
}

/// What a Markdown document shows as code: the lines of its fenced blocks (with the
/// block's language) and its inline code spans, each with the heading it is under.
struct Code {
    /// (heading, language, line)
    blocks: Vec<(String, String, String)>,
    spans: Vec<String>,
}

impl Code {
    fn of(markdown: &str) -> Self {
        let mut code = Code {
            blocks: Vec::new(),
            spans: Vec::new(),
        };
        let mut heading = String::new();
        let mut language: Option<String> = None;
        for line in markdown.lines() {
            if let Some(fence) = line.strip_prefix("```") {
                language = match language {
                    Some(_) => None,
                    None => Some(fence.trim().to_owned()),
                };
            } else if let Some(lang) = &language {
                code.blocks
                    .push((heading.clone(), lang.clone(), line.to_owned()));
            } else {
                if line.starts_with("##") {
                    heading = line.trim_start_matches('#').trim().to_owned();
                }
                code.spans
                    .extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
            }
        }
        code
    }

    /// Every line of code, in blocks and spans.
    fn lines(&self) -> impl Iterator<Item = &str> {
        self.blocks
            .iter()
            .map(|(_, _, line)| line.as_str())
            .chain(self.spans.iter().map(String::as_str))
    }

    /// The shell commands of the `sh` and `console` blocks outside `excluded`
    /// sections: continuation lines joined, comments dropped, white space folded.
    fn commands(&self, excluded: &[&str]) -> Vec<String> {
        let mut commands = Vec::new();
        let mut pending = String::new();
        let mut quoted = false;
        for (heading, language, line) in &self.blocks {
            if excluded.contains(&heading.as_str()) {
                continue;
            }
            match language.as_str() {
                "console" => {
                    if let Some(command) = line.strip_prefix("$ ") {
                        commands.push(fold(command));
                    }
                }
                "sh" => {
                    if pending.is_empty()
                        && (line.trim().is_empty() || line.trim().starts_with('#'))
                    {
                        continue;
                    }
                    let (text, open) = without_comment(line, quoted);
                    quoted = open;
                    let text = text.trim_end();
                    match text.strip_suffix('\\') {
                        Some(head) => pending.push_str(head),
                        None => pending.push_str(text),
                    }
                    pending.push(' ');
                    if !text.ends_with('\\') && !quoted {
                        commands.push(fold(&pending));
                        pending.clear();
                    }
                }
                _ => {}
            }
        }
        commands
    }
}

/// `line` up to a `#` that starts a shell comment (outside single quotes), and
/// whether a single quote is still open at its end.
fn without_comment(line: &str, mut quoted: bool) -> (&str, bool) {
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if c == '#' && !quoted && previous.is_whitespace() {
            return (&line[..i], quoted);
        }
        previous = c;
    }
    (line, quoted)
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_provision_subcommand_and_flag_is_in_the_korean_readme() {
    let provision = ClapDefinition::read("provision/src/cli.rs");
    let korean = korean();
    let code = Code::of(&korean);
    let shown: BTreeSet<&str> = code
        .lines()
        .flat_map(str::split_whitespace)
        .map(|w| w.trim_end_matches([',', '.', ')']))
        .collect();
    let missing_flags: Vec<_> = provision
        .flags
        .iter()
        .filter(|f| !["--help", "--version", "-h", "-V"].contains(&f.as_str()))
        .filter(|f| !shown.contains(f.as_str()))
        .collect();
    let missing_commands: Vec<_> = provision
        .subcommands
        .iter()
        .filter(|sub| {
            !code.lines().any(|l| {
                l.contains(&format!("provision {sub}"))
                    || l.contains(&format!("provision -- {sub}"))
            })
        })
        .collect();
    assert!(
        missing_flags.is_empty() && missing_commands.is_empty(),
        "README.ko.md does not show provision's flags {missing_flags:?} or subcommands {missing_commands:?}"
    );
}

#[test]
fn the_korean_readme_names_only_flags_that_exist() {
    let provision = ClapDefinition::read("provision/src/cli.rs");
    let kakaobot = ClapDefinition::read("service/src/main.rs");
    let deploy = deploy_flags();
    let korean = korean();
    let code = Code::of(&korean);
    let mut unknown = Vec::new();
    // A span that is only a flag (`--ssh-cidr`, `--port 5000`, `-v`) names one of ours.
    let ours = |f: &str| provision.exists(f) || kakaobot.exists(f) || deploy.contains(f);
    for span in &code.spans {
        let flag = span.split([' ', '=']).next().unwrap();
        if flag.starts_with('-') && flag.len() > 1 && !flag_exists(flag, &ours) {
            unknown.push(format!("{flag} in `{span}`"));
        }
    }
    for line in code.lines() {
        for flag in flags_after(line, "provision").into_iter().flatten() {
            if !flag_exists(flag, &|f| provision.exists(f)) {
                unknown.push(format!("provision {flag} in `{line}`"));
            }
        }
        for flag in flags_after(line, "deploy.sh").into_iter().flatten() {
            if !flag_exists(flag, &|f| deploy.contains(f)) {
                unknown.push(format!("deploy.sh {flag} in `{line}`"));
            }
        }
    }
    for env in names_with_prefix(&korean, "PROVISION_") {
        if !provision.env.contains(&env) {
            unknown.push(env);
        }
    }
    assert!(
        unknown.is_empty(),
        "README.ko.md names flags that do not exist: {unknown:#?}"
    );
}

#[test]
fn every_command_of_the_operators_path_in_readme_md_is_in_the_korean_readme() {
    let english = Code::of(&repo_file("README.md")).commands(&NOT_THE_OPERATORS_PATH);
    let korean: BTreeSet<String> = Code::of(&korean()).commands(&[]).into_iter().collect();
    assert!(
        english.len() > 20,
        "found only {english:#?} in README.md: have its sections been renamed?"
    );
    let missing: Vec<_> = english.iter().filter(|c| !korean.contains(*c)).collect();
    assert!(
        missing.is_empty(),
        "README.ko.md does not show these commands of README.md: {missing:#?}"
    );
}

#[test]
fn the_example_question_bank_is_a_valid_bank() {
    let code = Code::of(&korean());
    let example: Vec<&str> = code
        .blocks
        .iter()
        .filter(|(_, language, _)| language == "toml")
        .map(|(_, _, line)| line.as_str())
        .collect();
    let bank = QuestionBank::from_toml(&example.join("\n"), "README.ko.md")
        .unwrap_or_else(|e| panic!("README.ko.md's example bank: {e}"));
    assert!(bank.category_by_label("한국사 퀴즈").is_some());
}

#[test]
fn the_two_readmes_link_to_each_other_in_their_first_lines() {
    let head = |text: String| text.lines().take(5).collect::<Vec<_>>().join("\n");
    assert!(head(repo_file("README.md")).contains("(README.ko.md)"));
    assert!(head(korean()).contains("(README.md)"));
}

/// The anchors GitHub gives a document's headings: lower case, spaces as `-`, other
/// punctuation dropped (Hangul kept).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in markdown.lines() {
        in_code ^= line.starts_with("```");
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim().to_lowercase();
        anchors.insert(
            title
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect(),
        );
    }
    anchors
}

#[test]
fn every_link_to_a_section_of_either_readme_finds_its_heading() {
    let korean = korean();
    let targets = [
        ("](#", anchors(&korean)),
        ("](README.md#", anchors(&repo_file("README.md"))),
    ];
    let mut broken = Vec::new();
    for (opening, anchors) in &targets {
        for link in korean.split(opening).skip(1) {
            let anchor = &link[..link.find(')').unwrap_or(link.len())];
            if !anchors.contains(anchor) {
                broken.push(format!("{opening}{anchor})"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "README.ko.md links to no heading: {broken:?}"
    );
}

#[test]
fn the_command_reader_joins_continuations_and_drops_comments() {
    let markdown = "## Deploy\n```sh\n# a comment\ncurl -s -X POST x \\\n     -d '{\"a\": \"#설정\"}'   # why\nssh ubuntu@EIP &   # tunnel\n```\n```console\n$ provision  status\nstack ok\n```\n## Tests\n```sh\nnot this\n```\n";
    assert_eq!(
        Code::of(markdown).commands(&["Tests"]),
        [
            "curl -s -X POST x -d '{\"a\": \"#설정\"}'",
            "ssh ubuntu@EIP &",
            "provision status"
        ]
    );
}
