//! Property tests: random input at every door (pictures, provider answers, button data,
//! configuration values) never panics and is refused with a clear error; random event
//! sequences through the job lifecycle never deliver twice or leave a terminal state.
//! Each property starts from the committed corpus (`tests/corpus/`), then runs a bounded
//! number of random cases (`PROPTEST_CASES` raises it for a longer hunt).

use std::path::Path;
use std::sync::Arc;

use backdrop::bot::keyboards::Action;
use backdrop::config::{Settings, Vars};
use backdrop::input_image::{ImageLimits, InputImage};
use backdrop::job::{FailReason, JobEvent, JobId, JobOutput, JobState, LaneId, RemoteTaskId, StateName};
use backdrop::runninghub_api::TaskProgress;
use backdrop::runninghub_api::parse_webhook;
use backdrop::runninghub_api::wire::Envelope;
use proptest::prelude::*;

/// Small limits: random headers must not make the test allocate gigabytes.
const LIMITS: ImageLimits = ImageLimits { max_bytes: 1 << 20, max_pixels: 1 << 20, max_side: 4096 };

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the corpus is committed")
        .map(|e| e.expect("an entry").path())
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

/// What the bot does with a picture's bytes: parse the header, then decode.
fn take_picture(bytes: Vec<u8>) {
    if let Ok(image) = InputImage::parse(bytes, &LIMITS) {
        let (w, h) = image.dimensions();
        assert!(u64::from(w) * u64::from(h) <= LIMITS.max_pixels as u64, "limits hold after parse");
        let _ = image.decode();
    }
}

/// What the RunningHub engine does with an answer's bytes.
fn read_answer(bytes: &[u8]) {
    let _ = parse_webhook(bytes);
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes) {
        let _ = TaskProgress::from_envelope(&envelope);
    }
}

#[test]
fn the_corpus_is_refused_cleanly() {
    for (name, bytes) in corpus() {
        if name.ends_with(".json") {
            read_answer(&bytes);
        } else {
            take_picture(bytes.clone());
        }
        let refused = ["bomb", "truncated", "pdf", "header-only", "empty"];
        if refused.iter().any(|r| name.contains(r)) {
            let parsed = InputImage::parse(bytes, &LIMITS).and_then(|i| i.decode().map(|_| ()));
            assert!(parsed.is_err(), "{name} must be refused");
        }
    }
}

/// Bytes that look like the start of an image now and then.
fn picture_bytes() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop_oneof![
        Just(b"\x89PNG\r\n\x1a\n".to_vec()),
        Just(b"\xff\xd8\xff".to_vec()),
        Just(b"RIFF\0\0\0\0WEBP".to_vec()),
        Just(Vec::new()),
    ];
    (magic, proptest::collection::vec(any::<u8>(), 0..512)).prop_map(|(mut m, rest)| {
        m.extend(rest);
        m
    })
}

/// Mutations of the corpus files (flipped bytes, cut short).
fn mutated_corpus() -> impl Strategy<Value = Vec<u8>> {
    let files: Vec<Vec<u8>> = corpus().into_iter().map(|(_, b)| b).collect();
    (0..files.len(), proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), any::<usize>()).prop_map(
        move |(i, flips, cut)| {
            let mut bytes = files[i].clone();
            for (at, value) in flips {
                if !bytes.is_empty() {
                    let n = bytes.len();
                    bytes[at % n] = value;
                }
            }
            let keep = if bytes.is_empty() { 0 } else { cut % (bytes.len() + 1) };
            bytes.truncate(keep.max(bytes.len() / 2));
            bytes
        },
    )
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-zA-Z0-9_{}\":,. -]{0,24}".prop_map(Value::String),
        prop_oneof![Just("code"), Just("msg"), Just("data"), Just("taskId"), Just("eventData")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("code"),
                        Just("msg"),
                        Just("data"),
                        Just("taskId"),
                        Just("eventData"),
                        Just("fileUrl"),
                        Just("failedReason")
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = JobEvent> {
    let output = Arc::new(JobOutput { image: bytes::Bytes::from_static(b"x"), extension: "png" });
    prop_oneof![
        (1usize..5).prop_map(|position| JobEvent::Moved { position }),
        (1u16..3).prop_map(|lane| JobEvent::Started { lane: LaneId(lane) }),
        Just(JobEvent::Working),
        (0u8..3).prop_map(|t| JobEvent::TaskCreated(RemoteTaskId(t.to_string()))),
        Just(JobEvent::ProviderFinished),
        Just(JobEvent::Requeued { position: 1 }),
        Just(JobEvent::Succeeded(output)),
        Just(JobEvent::Delivered),
        Just(JobEvent::Failed(FailReason::NoOutput)),
        Just(JobEvent::Cancelled),
    ]
}

proptest! {
    // 256 cases by default (PROPTEST_CASES changes it); a failing case is saved under
    // proptest-regressions/ and replayed first from then on: commit it with its fix.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn random_pictures_never_panic(bytes in picture_bytes()) {
        take_picture(bytes);
    }

    #[test]
    fn damaged_corpus_pictures_never_panic(bytes in mutated_corpus()) {
        take_picture(bytes.clone());
        read_answer(&bytes);
    }

    #[test]
    fn random_provider_answers_never_panic(value in json_value()) {
        read_answer(value.to_string().as_bytes());
    }

    #[test]
    fn button_data_round_trips_and_anything_else_is_refused(job in any::<u64>(), data in "[a-z0-9:+ -]{0,24}") {
        for action in [Action::Cancel(JobId(job)), Action::Regenerate(JobId(job)), Action::Retry(JobId(job)), Action::NewPhoto] {
            let encoded = action.encode();
            prop_assert!(encoded.len() <= 64);
            prop_assert_eq!(Action::parse(&encoded), Some(action));
        }
        if let Some(action) = Action::parse(&data) {
            prop_assert_eq!(action.encode(), data, "only canonical data is accepted");
        }
    }

    #[test]
    fn configuration_values_are_parsed_or_named_never_panic(
        picks in proptest::collection::vec((0usize..14, "[ -~]{0,12}"), 1..6)
    ) {
        const NAMES: [&str; 14] = [
            "ENGINE", "RUNNINGHUB_API_KEY_1", "RUNNINGHUB_MAX_JOBS_1", "RUNNINGHUB_POLL_INTERVAL_MS",
            "RUNNINGHUB_TASK_TIMEOUT_S", "TELEGRAM_API_URL", "RUNNINGHUB_API_URL", "ON_SHUTDOWN",
            "ADMIN_IDS", "WEBHOOK_URL", "WEBHOOK_LISTEN", "MAX_JOBS_PER_USER", "DECODE_CONCURRENCY",
            "COMFYUI_NODE_PRODUCT_IMAGE",
        ];
        let mut pairs: Vec<(&str, &str)> = picks.iter().map(|(i, v)| (NAMES[*i], v.as_str())).collect();
        pairs.push(("BOT_TOKEN", "123:secret-token-value"));
        match Settings::from_vars(&Vars::from_pairs(pairs.iter().copied())) {
            Ok(_) => {}
            Err(e) => {
                let implied = ["BOT_TOKEN", "WEBHOOK_SECRET", "RUNNINGHUB_WORKFLOW_PRODUCT_1"];
                prop_assert!(
                    NAMES.contains(&e.variable.as_str()) || implied.contains(&e.variable.as_str()),
                    "{} is not a variable that was set",
                    e.variable
                );
                prop_assert!(!e.to_string().contains("secret-token-value"), "a secret never shows");
            }
        }
    }

    #[test]
    fn the_lifecycle_never_delivers_twice_or_leaves_an_end(events in proptest::collection::vec(event(), 0..40)) {
        let mut state = JobState::Queued { position: 1 };
        let (mut results, mut deliveries) = (0, 0);
        for event in events {
            let was_terminal = state.is_terminal();
            let name = event.name();
            match state.apply(event) {
                Ok(next) => {
                    prop_assert!(!was_terminal, "a terminal state took {name}");
                    results += usize::from(next.name() == StateName::Delivering);
                    deliveries += usize::from(next.name() == StateName::Delivered);
                    state = next;
                }
                Err(e) => prop_assert_eq!(e.state, state.name()),
            }
        }
        prop_assert!(results <= 1 && deliveries <= results, "{results} results, {deliveries} deliveries");
    }
}
