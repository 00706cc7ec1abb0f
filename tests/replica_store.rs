//! The store's side of replicas on one PostgreSQL database: slot leases are never given
//! twice, however many replicas ask at once; a dead replica's jobs and leases pass in one
//! piece to one live replica; a live replica is never taken over; cancel reaches the
//! replica that runs the job.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use backdrop::input_image::InputImage;
use backdrop::job::{JobId, LaneId};
use backdrop::store::{DatabaseUrl, GotTo, NewJob, ReplicaId, Store, Unanswered};
use backdrop_fakes::TestPostgres;

const LANES: [(LaneId, usize); 2] = [(LaneId(1), 3), (LaneId(2), 2)];
const ALIVE: Duration = Duration::from_millis(600);

fn image(w: u32) -> InputImage {
    support::small_image(w)
}

fn new_job(user: i64) -> NewJob {
    support::new_job_of(user, "en")
}

/// `n` replicas of one fresh database, each with its own DATA_DIR.
async fn replicas(n: usize) -> (Vec<Store>, Vec<tempfile::TempDir>) {
    let url: DatabaseUrl = TestPostgres::shared().fresh_database().await.parse().unwrap();
    let mut stores = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&url, dir.path()).await.unwrap();
        store.join_replicas(ReplicaId::new(), ALIVE, &LANES).await.unwrap();
        stores.push(store);
        dirs.push(dir);
    }
    (stores, dirs)
}

#[tokio::test]
async fn leases_asked_for_at_once_by_many_replicas_never_exceed_the_limits() {
    let (stores, _dirs) = replicas(4).await;
    let lanes = [LaneId(1), LaneId(2)];
    let asks = stores.iter().map(|s| {
        let s = s.clone();
        async move { s.acquire_leases(&lanes, 4).await.unwrap() }
    });
    let granted: Vec<_> = futures::future::join_all(asks).await.into_iter().flatten().collect();
    assert_eq!(granted.len(), 5, "3 + 2 slots in all: {granted:?}");
    let distinct: HashSet<_> = granted.iter().collect();
    assert_eq!(distinct.len(), 5, "no slot leased twice");
    for (lane, limit) in LANES {
        assert_eq!(granted.iter().filter(|l| l.lane == lane).count(), limit);
    }
    assert!(stores[0].acquire_leases(&lanes, 1).await.unwrap().is_empty(), "nothing left");
    // Given back, a slot is another's to take.
    let mine: Vec<_> = stores[1].acquire_leases(&lanes, 1).await.unwrap();
    assert!(mine.is_empty());
    let someone = granted[0];
    for store in &stores {
        store.release_leases(&[someone]).await.unwrap();
    }
    let again = stores[3].acquire_leases(&lanes, 2).await.unwrap();
    assert_eq!(again, vec![someone], "only the lease its holder gave back");
}

#[tokio::test]
async fn a_dead_replicas_jobs_and_leases_go_to_exactly_one_live_replica() {
    let (stores, _dirs) = replicas(3).await;
    let (dead, a, b) = (&stores[0], &stores[1], &stores[2]);
    let mut ids = Vec::new();
    for user in 1..=3 {
        let (id, _) = dead.create_job(&new_job(user), &image(4), &image(6)).await.unwrap();
        ids.push(id);
    }
    let leases = dead.acquire_leases(&[LaneId(1)], 2).await.unwrap();
    assert_eq!(leases.len(), 2);
    // It was taking a picture of user 9 when it died, and had answered user 10's.
    dead.picture_in_hand(9, 100, "en").await.unwrap();
    dead.picture_in_hand(10, 101, "ru").await.unwrap();
    dead.picture_answered(10, 101).await.unwrap();
    // Alive: nobody may take it over.
    assert!(a.take_over().await.unwrap().jobs.is_empty());
    // It stops renewing its heartbeat; the others keep theirs.
    tokio::time::sleep(ALIVE + Duration::from_millis(300)).await;
    assert_eq!(a.heartbeat(ALIVE).await.unwrap(), Some(1), "b's last heartbeat lapsed too");
    assert_eq!(b.heartbeat(ALIVE).await.unwrap(), Some(2), "a and b alive: the dead one is not counted");
    let (one, two) = tokio::join!(a.take_over(), b.take_over());
    let (one, two) = (one.unwrap(), two.unwrap());
    let (winner, loser) = if one.jobs.is_empty() { (two, one) } else { (one, two) };
    assert!(loser.jobs.is_empty() && loser.leases.is_empty(), "taken over once: {loser:?}");
    assert_eq!(winner.jobs.iter().map(|j| j.id).collect::<Vec<JobId>>(), ids, "its jobs, oldest first");
    assert_eq!(winner.leases.len(), 2, "with the slots their tasks may hold");
    assert!(winner.jobs.iter().all(|j| j.product_path.exists()), "their images on the taker's disk");
    let unanswered = vec![Unanswered { chat_id: 9, language: "en".into(), got_to: GotTo::Nothing }];
    assert_eq!(winner.unanswered, unanswered, "whom to ask to send their picture again");
    // The dead one learns it at its next heartbeat and must stop.
    assert_eq!(dead.heartbeat(ALIVE).await.unwrap(), None, "declared dead");
    assert!(a.take_over().await.unwrap().jobs.is_empty() && b.take_over().await.unwrap().jobs.is_empty());
}

#[tokio::test]
async fn a_clean_stop_hands_the_jobs_over_at_once_and_cancel_reaches_the_runner() {
    let (stores, _dirs) = replicas(2).await;
    let (leaving, staying) = (&stores[0], &stores[1]);
    let (id, _) = leaving.create_job(&new_job(7), &image(4), &image(6)).await.unwrap();
    assert_eq!(staying.jobs_in_queue_of(7).await.unwrap(), vec![id], "the user's jobs, on any replica");
    assert!(staying.request_cancel(id).await.unwrap());
    assert_eq!(leaving.cancel_requests().await.unwrap(), vec![id], "the runner hears of it");
    assert!(staying.cancel_requests().await.unwrap().is_empty());
    leaving.leave_replicas().await.unwrap();
    let taken = staying.take_over().await.unwrap();
    assert_eq!(taken.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id], "no heartbeat to wait for");
    assert!(!staying.request_cancel(JobId(999_999)).await.unwrap(), "an unknown job is not live");
    // An album's jobs share its status message: found from its first job on any replica.
    let (lead, _) = leaving.create_job(&new_job(8), &image(4), &image(6)).await.unwrap();
    let (second, _) = staying.create_job(&new_job(8), &image(4), &image(6)).await.unwrap();
    let (other, _) = staying.create_job(&new_job(8), &image(4), &image(6)).await.unwrap();
    for (job, message) in [(lead, 41), (second, 41), (other, 42)] {
        staying.set_status_message(job, message).await.unwrap();
    }
    assert_eq!(staying.album_jobs_in_queue(lead).await.unwrap(), vec![lead, second]);
}
