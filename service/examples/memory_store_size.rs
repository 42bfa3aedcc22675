//! Prints how much resident memory the memory store holds at its user cap, each user
//! as busy as the store lets them be: a friend of both bots, a quiz score and an
//! asked question, a lunch group of their own listing a restaurant with today's vote.
//! The figure behind [`MEMORY_USER_CAP`]'s doc; Linux only (reads `/proc/self/status`).
//!
//! `cargo run -p kakaobot --release --example memory_store_size`

use anyhow::{Context, Result};
use kakaobot::lunch::{GroupChange, GroupEdit, LunchRequest, LunchSession, NextStep, StepMove};
use kakaobot::store::{AnswerCheck, MemoryStore, QuizSession, Store, MEMORY_USER_CAP};
use kakaobot::user::{BotName, UserKey};

const DAY: &str = "2026-12-07";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let store = MemoryStore::new();
    let before = resident_kib()?;
    for n in 0..MEMORY_USER_CAP {
        let user = UserKey::parse(&format!("made-up-user-{n:06}-0123456789abcdef"))?;
        fill(&store, &user, n).await?;
    }
    let after = resident_kib()?;
    let per_user = (after - before) * 1024 / MEMORY_USER_CAP as u64;
    println!(
        "memory store, {} users: resident {:.1} MiB -> {:.1} MiB ({:.1} MiB held, about {per_user} bytes a user)",
        store.users(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0,
    );
    Ok(())
}

async fn fill(store: &MemoryStore, user: &UserKey, n: usize) -> Result<()> {
    for bot in [BotName::Quiz, BotName::Lunch] {
        store.add_friend(bot, user).await?;
    }
    let asked = QuizSession {
        category: "web".to_owned(),
        question_id: "web-001".to_owned(),
    };
    store
        .quiz_ask(user, "web", std::slice::from_ref(&asked))
        .await?;
    let check = AnswerCheck {
        tapped: Some(asked.question_id.clone()),
        valid_for: vec![asked.question_id.clone()],
        correct_for: vec![asked.question_id],
    };
    store.quiz_judge(user, &check).await?;
    let create = LunchRequest {
        change: Some(GroupChange::Create {
            code: format!("G{n:06}"),
            max: 5,
            step: LunchSession::Settings,
        }),
        ..Default::default()
    };
    store.lunch_open(user, DAY, &create).await?;
    for edit in [
        GroupEdit::Add {
            name: "김밥천국".to_owned(),
            max: 20,
        },
        GroupEdit::Vote("김밥천국".to_owned()),
    ] {
        let request = LunchRequest {
            moves: vec![StepMove {
                at: None,
                edit,
                on_change: NextStep::Keep,
                on_refusal: NextStep::Keep,
            }],
            ..Default::default()
        };
        store.lunch_open(user, DAY, &request).await?;
    }
    Ok(())
}

/// This process's resident set, in KiB.
fn resident_kib() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .context("no VmRSS line in /proc/self/status")?;
    line.split_whitespace()
        .nth(1)
        .context("a VmRSS line without a number")?
        .parse()
        .context("a VmRSS figure that is not a number")
}
