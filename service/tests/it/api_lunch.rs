//! The lunch-vote bot over HTTP: groups, join codes, restaurant lists, votes and
//! results, and 500 users voting at once on Redis.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::helpers::{spawn_app, Answer, RedisServer, TestApp};

const LUNCH: &str = "/lunch";
const HOME: [&str; 3] = ["#점심 선택", "#결과 보기", "#설정"];
const SETTINGS_MEMBER: [&str; 5] = [
    "식당 추가",
    "식당 삭제",
    "그룹 만들기",
    "그룹 참여",
    "처음으로",
];
const SETTINGS_NEWCOMER: [&str; 3] = ["그룹 만들기", "그룹 참여", "처음으로"];

async fn say(app: &TestApp, user: &str, text: &str) -> Answer {
    app.post_message(LUNCH, user, text).await
}

/// Creates a group through the settings menu and returns its join code.
async fn create_group(app: &TestApp, user: &str) -> String {
    say(app, user, "#설정")
        .await
        .assert_buttons(&SETTINGS_NEWCOMER);
    let created = say(app, user, "그룹 만들기").await;
    created.assert_buttons(&SETTINGS_MEMBER);
    let code: String = created
        .text
        .split_once("참여 코드: ")
        .unwrap_or_else(|| panic!("no code in {:?}", created.text))
        .1
        .chars()
        .take(6)
        .collect();
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code:?}");
    code
}

/// Joins the group `typed` (a code as a person might type it).
async fn join(app: &TestApp, user: &str, typed: &str) -> Answer {
    say(app, user, "#설정").await;
    let prompt = say(app, user, "그룹 참여").await;
    assert!(prompt.has_text_keyboard(), "{:?}", prompt.json);
    say(app, user, typed).await
}

async fn add_restaurant(app: &TestApp, user: &str, name: &str) -> Answer {
    let prompt = say(app, user, "식당 추가").await;
    assert!(prompt.has_text_keyboard(), "{:?}", prompt.json);
    say(app, user, name).await
}

/// Opens today's vote and picks `restaurant`.
async fn vote(app: &TestApp, user: &str, restaurant: &str) -> Answer {
    let choosing = say(app, user, "#점심 선택").await;
    assert!(
        choosing.buttons().iter().any(|b| b == restaurant),
        "{restaurant} not offered: {:?}",
        choosing.buttons()
    );
    say(app, user, restaurant).await
}

/// The ranking lines of a result (`1. 국밥 3표`), as (name, votes) in shown order.
fn ranking(result: &Answer) -> Vec<(String, u64)> {
    result
        .text
        .lines()
        .filter_map(|line| {
            let (rank, rest) = line.split_once(". ")?;
            rank.parse::<u32>().ok()?;
            let (name, count) = rest.rsplit_once(' ')?;
            Some((name.to_owned(), count.strip_suffix('표')?.parse().ok()?))
        })
        .collect()
}

/// The lunch conversation of tutorial 2, done right: create, join, stock, vote, result.
async fn a_full_conversation(app: &TestApp) {
    let owner = "lunch_owner1";
    let friend = "lunch_friend";

    let code = create_group(app, owner).await;
    let added = add_restaurant(app, owner, "  김밥   천국 ").await;
    added.assert_says("식당을 추가했어요: 김밥 천국");
    added.assert_buttons(&SETTINGS_MEMBER);
    add_restaurant(app, owner, "국밥집").await;
    add_restaurant(app, owner, "라멘")
        .await
        .assert_says("식당 목록: 김밥 천국, 국밥집, 라멘");

    // The friend types the code in lower case with a space in the middle.
    let typed = format!("{} {}", &code[..3], &code[3..]).to_lowercase();
    let joined = join(app, friend, &typed).await;
    joined.assert_says(&format!("{code} 그룹에 참여했어요"));
    joined.assert_buttons(&HOME);

    let choosing = say(app, friend, "#점심 선택").await;
    choosing.assert_buttons(&["김밥 천국", "국밥집", "라멘", "처음으로"]);
    let voted = say(app, friend, "국밥집").await;
    voted.assert_says("'국밥집'에 투표했어요");
    voted.assert_buttons(&HOME);
    vote(app, owner, "라멘").await;
    vote(app, owner, "국밥집")
        .await
        .assert_says("투표를 바꿨어요: 라멘 → 국밥집");

    let result = say(app, friend, "#결과 보기").await;
    result.assert_says("총 2표");
    result.assert_says("오늘의 점심은 '국밥집'!");
    result.assert_buttons(&HOME);
    assert_eq!(ranking(&result), [("국밥집".to_owned(), 2)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_is_created_joined_stocked_and_voted_on_with_redis() {
    let redis = RedisServer::start();
    let app = spawn_app("lunch_conversation_redis", Some(&redis)).await;

    a_full_conversation(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_is_created_joined_stocked_and_voted_on_in_memory() {
    let app = spawn_app("lunch_conversation_memory", None).await;

    a_full_conversation(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restaurant_names_are_trimmed_deduplicated_and_bounded() {
    let app = spawn_app("lunch_names", None).await;
    let owner = "names_owner";
    create_group(&app, owner).await;

    add_restaurant(&app, owner, " Pizza  House ")
        .await
        .assert_says("식당을 추가했어요: Pizza House");
    let duplicate = add_restaurant(&app, owner, "pizza house").await;
    let longest = add_restaurant(&app, owner, &"나".repeat(20)).await;
    let too_long = add_restaurant(&app, owner, &"가".repeat(21)).await;
    let blank = say(&app, owner, "    ").await;
    let menu_label = say(&app, owner, "#설정 ").await;

    duplicate.assert_says("이미 목록에 있는 식당이에요");
    duplicate.assert_buttons(&SETTINGS_MEMBER);
    longest.assert_says("추가했어요");
    too_long.assert_says("20자까지예요");
    assert!(too_long.has_text_keyboard());
    blank.assert_says("비어 있어요");
    assert!(blank.has_text_keyboard());
    // A menu label is the menu, even while a name is expected.
    menu_label.assert_buttons(&SETTINGS_MEMBER);
    menu_label.assert_says(&format!("식당 목록: Pizza House, {}", "나".repeat(20)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_groups_list_holds_at_most_twenty_restaurants() {
    let redis = RedisServer::start();
    let app = spawn_app("lunch_list_bound", Some(&redis)).await;
    let owner = "bound_owner1";
    create_group(&app, owner).await;
    for i in 1..=20 {
        add_restaurant(&app, owner, &format!("식당{i}"))
            .await
            .assert_says("추가했어요");
    }

    let full = add_restaurant(&app, owner, "식당21").await;

    full.assert_says("20곳까지");
    let choosing = say(&app, owner, "#점심 선택").await;
    assert_eq!(choosing.buttons().len(), 21, "20 restaurants and 처음으로");
}

/// Thirty members add thirty different restaurants at once.
async fn thirty_members_stock_the_list_at_once(app: Arc<TestApp>) {
    let owner = "race_owner_1";
    let code = create_group(&app, owner).await;
    let mut adders = JoinSet::new();
    for i in 0..30 {
        let (app, code) = (app.clone(), code.clone());
        adders.spawn(async move {
            let user = format!("race_member_{i:02}");
            join(&app, &user, &code).await;
            add_restaurant(&app, &user, &format!("가게{i:02}")).await
        });
    }
    let mut added = 0;
    let mut refused = 0;
    while let Some(answer) = adders.join_next().await {
        let answer = answer.unwrap();
        if answer.text.contains("추가했어요") {
            added += 1;
        } else {
            answer.assert_says("20곳까지");
            refused += 1;
        }
    }

    let choosing = say(&app, owner, "#점심 선택").await;

    assert_eq!((added, refused), (20, 10));
    assert_eq!(choosing.buttons().len(), 21, "{:?}", choosing.buttons());
}

#[tokio::test(flavor = "multi_thread")]
async fn members_adding_at_once_never_push_the_list_past_its_bound_on_redis() {
    let redis = RedisServer::start();
    let app = Arc::new(spawn_app("lunch_add_race_redis", Some(&redis)).await);

    thirty_members_stock_the_list_at_once(app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn members_adding_at_once_never_push_the_list_past_its_bound_in_memory() {
    let app = Arc::new(spawn_app("lunch_add_race_memory", None).await);

    thirty_members_stock_the_list_at_once(app).await;
}

/// One user taps ten restaurants at once while choosing: one vote counts, whichever.
async fn ten_taps_at_once_count_as_one_vote(app: Arc<TestApp>) {
    let owner = "tapper_own_1";
    create_group(&app, owner).await;
    let names: Vec<String> = (0..10).map(|i| format!("집{i}")).collect();
    for name in &names {
        add_restaurant(&app, owner, name).await;
    }
    say(&app, owner, "#점심 선택").await;

    let mut taps = JoinSet::new();
    for name in names.clone() {
        let app = app.clone();
        taps.spawn(async move { say(&app, owner, &name).await });
    }
    while let Some(answer) = taps.join_next().await {
        answer.unwrap().assert_buttons(&HOME);
    }
    let result = say(&app, owner, "#결과 보기").await;

    result.assert_says("총 1표");
    assert_eq!(ranking(&result).len(), 1, "{}", result.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_taps_at_once_by_one_user_count_as_one_vote_on_redis() {
    let redis = RedisServer::start();
    let app = Arc::new(spawn_app("lunch_taps_redis", Some(&redis)).await);

    ten_taps_at_once_count_as_one_vote(app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_taps_at_once_by_one_user_count_as_one_vote_in_memory() {
    let app = Arc::new(spawn_app("lunch_taps_memory", None).await);

    ten_taps_at_once_count_as_one_vote(app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn joining_another_group_leaves_the_first() {
    let app = spawn_app("lunch_switch_group", None).await;
    let first = create_group(&app, "first_owner").await;
    add_restaurant(&app, "first_owner", "김밥").await;
    let second = create_group(&app, "second_owner").await;
    add_restaurant(&app, "second_owner", "국밥").await;
    join(&app, "switcher_01", &first).await;

    let moved = join(&app, "switcher_01", &second.to_lowercase()).await;

    moved.assert_says(&format!("{second} 그룹에 참여했어요"));
    say(&app, "switcher_01", "#점심 선택")
        .await
        .assert_buttons(&["국밥", "처음으로"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restaurant_can_be_removed_from_the_list() {
    let app = spawn_app("lunch_remove", None).await;
    let owner = "remove_owner";
    create_group(&app, owner).await;
    add_restaurant(&app, owner, "김밥").await;
    add_restaurant(&app, owner, "국밥").await;

    let offered = say(&app, owner, "식당 삭제").await;
    let removed = say(&app, owner, "김밥").await;

    offered.assert_buttons(&["김밥", "국밥", "취소"]);
    removed.assert_says("목록에서 지웠어요: 김밥");
    say(&app, owner, "#점심 선택")
        .await
        .assert_buttons(&["국밥", "처음으로"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tie_goes_to_the_restaurant_added_first() {
    let app = spawn_app("lunch_tie", None).await;
    let owner = "tie_owner_1";
    let code = create_group(&app, owner).await;
    for name in ["김밥", "국밥", "라멘"] {
        add_restaurant(&app, owner, name).await;
    }
    join(&app, "tie_voter_2", &code).await;
    join(&app, "tie_voter_3", &code).await;

    vote(&app, owner, "라멘").await;
    vote(&app, "tie_voter_2", "국밥").await;
    vote(&app, "tie_voter_3", "김밥").await;
    vote(&app, "tie_voter_3", "라멘").await;
    vote(&app, "tie_voter_3", "국밥").await;
    let result = say(&app, owner, "#결과 보기").await;

    assert_eq!(
        ranking(&result),
        [("국밥".to_owned(), 2), ("라멘".to_owned(), 1)]
    );
    result.assert_says("오늘의 점심은 '국밥'!");
    vote(&app, owner, "김밥").await;
    vote(&app, "tie_voter_3", "라멘").await;
    let tied = say(&app, owner, "#결과 보기").await;
    assert_eq!(
        ranking(&tied),
        [
            ("김밥".to_owned(), 1),
            ("국밥".to_owned(), 1),
            ("라멘".to_owned(), 1)
        ]
    );
    tied.assert_says("목록에 먼저 오른 식당이 이겨요.\n오늘의 점심은 '김밥'!");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_group_is_guided_to_settings() {
    let app = spawn_app("lunch_no_group", None).await;

    for text in ["#점심 선택", "#결과 보기", "식당 추가", "김밥", "안녕"] {
        let answer = say(&app, "groupless_1", text).await;

        answer.assert_says("'#설정'에서 그룹을 만들거나");
        answer.assert_buttons(&HOME);
    }
    say(&app, "groupless_1", "#설정")
        .await
        .assert_buttons(&SETTINGS_NEWCOMER);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_text_at_every_step_gets_a_helpful_reply_and_the_right_keyboard() {
    let app = spawn_app("lunch_unknown_text", None).await;
    let owner = "unknown_own";
    create_group(&app, owner).await;
    add_restaurant(&app, owner, "김밥").await;

    // In the settings menu.
    let in_settings = say(&app, owner, "뭐지?").await;
    in_settings.assert_says("아래 버튼에서 골라 주세요");
    in_settings.assert_buttons(&SETTINGS_MEMBER);
    // While choosing.
    say(&app, owner, "#점심 선택").await;
    let not_listed = say(&app, owner, "피자").await;
    not_listed.assert_says("목록에 없는 식당이에요");
    not_listed.assert_buttons(&["김밥", "처음으로"]);
    // At home.
    say(&app, owner, "처음으로").await.assert_buttons(&HOME);
    let at_home = say(&app, owner, "아무말").await;
    at_home.assert_says("무엇을 할까요?");
    at_home.assert_buttons(&HOME);
    // A restaurant button pressed after the choosing step ended.
    let stale = say(&app, owner, "김밥").await;
    stale.assert_says("'#점심 선택'을 다시 눌러 주세요");
    stale.assert_buttons(&HOME);
    // A wrong join code.
    let wrong_code = join(&app, "lost_joiner", "ZZZZZZ").await;
    wrong_code.assert_says("참여 코드가 'ZZZZZZ'인 그룹을 찾지 못했어요");
    assert!(wrong_code.has_text_keyboard());
    let cancelled = say(&app, "lost_joiner", "취소").await;
    cancelled.assert_buttons(&HOME);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restaurant_pressed_after_the_context_expired_does_not_vote() {
    let redis = RedisServer::start();
    let app = spawn_app("lunch_expired_context", Some(&redis)).await;
    let owner = "expired_own1";
    create_group(&app, owner).await;
    add_restaurant(&app, owner, "김밥").await;
    say(&app, owner, "#점심 선택").await;

    app.expire_sessions(&redis).await;
    let stale = say(&app, owner, "김밥").await;

    stale.assert_says("'#점심 선택'을 다시 눌러 주세요");
    stale.assert_buttons(&HOME);
    say(&app, owner, "#결과 보기")
        .await
        .assert_says("아직 투표가 없어요");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_users_voting_at_once_on_redis_are_each_counted_once_by_their_last_vote() {
    const USERS: usize = 500;
    const AT_ONCE: usize = 50;
    let redis = RedisServer::start();
    let app = Arc::new(spawn_app("lunch_500_voters", Some(&redis)).await);
    let restaurants = ["김밥", "국밥", "라멘", "피자", "쌀국수"];
    let owner = "crowd_owner1";
    let code = create_group(&app, owner).await;
    for name in restaurants {
        add_restaurant(&app, owner, name).await;
    }

    // Each user joins, votes, and two in three change their vote; users run
    // concurrently, AT_ONCE at a time, each user's own messages in order.
    let limit = Arc::new(Semaphore::new(AT_ONCE));
    let mut voters = JoinSet::new();
    for i in 0..USERS {
        let (app, limit, code) = (app.clone(), limit.clone(), code.clone());
        voters.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let user = format!("crowd_{i:06}");
            join(&app, &user, &code)
                .await
                .assert_says("그룹에 참여했어요");
            let first = restaurants[i % restaurants.len()];
            vote(&app, &user, first).await.assert_says("투표했어요");
            let last = if i % 3 == 0 {
                first
            } else {
                let second = restaurants[(i * 7 + 3) % restaurants.len()];
                vote(&app, &user, second).await;
                second
            };
            last
        });
    }
    let mut expected: HashMap<String, u64> = HashMap::new();
    while let Some(last) = voters.join_next().await {
        *expected.entry(last.unwrap().to_owned()).or_default() += 1;
    }

    let result = say(&app, owner, "#결과 보기").await;

    result.assert_says(&format!("총 {USERS}표"));
    let shown: HashMap<String, u64> = ranking(&result).into_iter().collect();
    assert_eq!(shown, expected, "{}", result.text);
}
