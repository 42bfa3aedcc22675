//! Two kakaobot instances on one Redis Cluster, as behind a load balancer: a
//! conversation whose messages alternate between them goes exactly as with one
//! instance, because all state is in the cluster (each instance only remembers which
//! group a user was last seen in, and checks that guess on every message).

use crate::helpers::{spawn_app_with, unique_prefix, Answer, RedisCluster, TestApp};

const QUIZ: &str = "/quiz";
const LUNCH: &str = "/lunch";

async fn instance(cluster: &RedisCluster, prefix: &str) -> TestApp {
    spawn_app_with(
        "two_processes",
        None,
        &[
            ("KAKAOBOT_REDIS_CLUSTER", &cluster.seeds()),
            ("KAKAOBOT_KEY_PREFIX", prefix),
        ],
        |_| {},
    )
    .await
}

fn code_in(answer: &Answer) -> String {
    answer
        .text
        .split_once("참여 코드: ")
        .unwrap_or_else(|| panic!("no join code in {:?}", answer.text))
        .1
        .chars()
        .take(6)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_alternating_between_two_instances_behaves_like_one() {
    let cluster = RedisCluster::start();
    let prefix = unique_prefix("two_processes");
    let (a, b) = (
        instance(&cluster, &prefix).await,
        instance(&cluster, &prefix).await,
    );

    // Quiz: asked by one instance, answered through the other, scored by the first.
    let asked = a.post_message(QUIZ, "alt-q", "파이썬 퀴즈").await;
    let choice = asked.buttons()[0].clone();
    b.post_message(QUIZ, "alt-q", &choice)
        .await
        .assert_says("(지금까지 1문제 중");
    a.post_message(QUIZ, "alt-q", "내 점수")
        .await
        .assert_says("지금까지 1문제 중");

    // Lunch: every step on the other instance than the one before.
    a.post_message(LUNCH, "alt-l", "#설정").await;
    let code = code_in(&b.post_message(LUNCH, "alt-l", "그룹 만들기").await);
    a.post_message(LUNCH, "alt-l", "식당 추가").await;
    b.post_message(LUNCH, "alt-l", "김밥")
        .await
        .assert_says("식당을 추가했어요: 김밥");
    a.post_message(LUNCH, "alt-l", "#점심 선택")
        .await
        .assert_buttons(&["김밥", "처음으로"]);
    b.post_message(LUNCH, "alt-l", "김밥")
        .await
        .assert_says("'김밥'에 투표했어요");
    a.post_message(LUNCH, "alt-l", "#결과 보기")
        .await
        .assert_says("오늘의 점심은 '김밥'");

    // A second user joins through one instance and votes through the other.
    a.post_message(LUNCH, "alt-m", "그룹 참여").await;
    b.post_message(LUNCH, "alt-m", &code)
        .await
        .assert_says("그룹에 참여했어요");
    a.post_message(LUNCH, "alt-m", "#점심 선택").await;
    b.post_message(LUNCH, "alt-m", "김밥").await;
    a.post_message(LUNCH, "alt-l", "#결과 보기")
        .await
        .assert_says("김밥 2표");

    // The first user moves to a new group through b; a, which saw the old group
    // last, must not show it.
    b.post_message(LUNCH, "alt-l", "그룹 만들기").await;
    a.post_message(LUNCH, "alt-l", "#점심 선택")
        .await
        .assert_says("아직 식당 목록이 비어 있어요");
    b.post_message(LUNCH, "alt-m", "#결과 보기")
        .await
        .assert_says("오늘의 점심은 '김밥'");
}
