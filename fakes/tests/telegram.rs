//! Wire-format tests of the fake Bot API: raw HTTP with reqwest, then teloxide itself.

use std::time::{Duration, Instant};

use backdrop_fakes::image_bytes::solid_png;
use backdrop_fakes::{FakeTelegram, MessageKind, TgFault};
use serde_json::{Value, json};

const TOKEN: &str = "123456:TEST-token";

async fn call(http: &reqwest::Client, tg: &FakeTelegram, method: &str, body: Value) -> (u16, Value) {
    let r = http.post(format!("{}/bot{TOKEN}/{method}", tg.url())).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn get_me_and_unknown_method() {
    let tg = FakeTelegram::start().await;
    let http = reqwest::Client::new();
    let (s, me) = call(&http, &tg, "getme", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(me["result"]["username"], "backdrop_test_bot");
    assert_eq!(me["result"]["has_main_web_app"], false);
    let (s, e) = call(&http, &tg, "SendPoll", json!({})).await;
    assert_eq!(s, 404);
    assert_eq!(e, json!({"ok":false,"error_code":404,"description":"Not Found: method not found"}));
    assert_eq!(tg.unknown_methods(), vec!["SendPoll".to_owned()]);
    assert_eq!(tg.tokens(), vec![TOKEN.to_owned()]);
    assert_eq!(tg.calls()[0].method, "GetMe");
}

#[tokio::test]
async fn long_poll_returns_an_update_posted_later_and_confirms_offsets() {
    let tg = FakeTelegram::start().await;
    let user = tg.user(42, Some("en"));
    let http = reqwest::Client::new();

    let u2 = user.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        u2.send_text("hello");
    });
    let started = Instant::now();
    let (_, r) = call(&http, &tg, "GetUpdates", json!({"offset":0,"timeout":5})).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(2), "{waited:?}");
    let updates = r["result"].as_array().unwrap();
    assert_eq!(updates.len(), 1);
    let u = &updates[0];
    assert_eq!(u["message"]["text"], "hello");
    assert_eq!(u["message"]["from"]["language_code"], "en");
    assert_eq!(u["message"]["chat"]["id"], 42);
    let id = u["update_id"].as_i64().unwrap();

    // Not confirmed yet: returned again at once.
    let (_, again) = call(&http, &tg, "GetUpdates", json!({"offset":0,"timeout":5})).await;
    assert_eq!(again["result"][0]["update_id"], id);
    // Confirmed: the next poll holds until its timeout and returns nothing.
    let started = Instant::now();
    let (_, empty) = call(&http, &tg, "GetUpdates", json!({"offset":id + 1,"timeout":1})).await;
    assert_eq!(empty["result"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(tg.pending_updates(), 0);

    user.send_command("/start");
    let (_, r) = call(&http, &tg, "GetUpdates", json!({"offset":id + 1})).await;
    assert_eq!(r["result"][0]["message"]["entities"][0]["type"], "bot_command");
}

#[tokio::test]
async fn multipart_send_photo_stores_bytes_and_files_roundtrip() {
    let tg = FakeTelegram::start().await;
    let user = tg.user(7, None);
    let http = reqwest::Client::new();
    let png = solid_png(120, 80, [9, 9, 9]);
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "7")
        .text("photo", "attach://abc")
        .text("caption", "Done")
        .text("reply_markup", r#"{"inline_keyboard":[[{"text":"Again","callback_data":"r:1"}]]}"#)
        .part("abc", reqwest::multipart::Part::bytes(png.clone()).file_name("result.png"));
    let r: Value = http
        .post(format!("{}/bot{TOKEN}/SendPhoto", tg.url()))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let sizes = r["result"]["photo"].as_array().unwrap();
    let largest = sizes.last().unwrap();
    assert_eq!((largest["width"].as_u64(), largest["height"].as_u64()), (Some(120), Some(80)));
    assert_eq!(r["result"]["caption"], "Done");
    assert_eq!(r["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "r:1");

    let screen = user.messages();
    assert_eq!(screen.len(), 1);
    assert_eq!(screen[0].kind, MessageKind::Photo);
    assert_eq!(screen[0].file.as_deref(), Some(png.as_slice()));
    assert_eq!(screen[0].buttons(), vec![("Again".to_owned(), "r:1".to_owned())]);
    let c = tg.calls_of("sendphoto").pop().unwrap();
    assert_eq!(c.chat_id, Some(7));
    assert_eq!(c.file.as_deref(), Some(png.as_slice()));
    assert_eq!(c.params["reply_markup"]["inline_keyboard"][0][0]["text"], "Again");

    // getFile + download (with the slash percent-encoded, as teloxide does).
    let file_id = largest["file_id"].as_str().unwrap();
    let (_, f) = call(&http, &tg, "getFile", json!({"file_id": file_id})).await;
    let path = f["result"]["file_path"].as_str().unwrap().to_owned();
    assert!(path.contains('/'));
    let url = format!("{}/file/bot{TOKEN}/{}", tg.url(), path.replace('/', "%2F"));
    let got = http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(got.as_ref(), png.as_slice());

    // A user's photo is fetchable the same way.
    user.send_photo(png.clone());
    let (_, u) = call(&http, &tg, "getUpdates", json!({})).await;
    let fid = u["result"][0]["message"]["photo"][1]["file_id"].as_str().unwrap().to_owned();
    assert_eq!(tg.file(&fid).unwrap(), png);
}

#[tokio::test]
async fn edits_faults_and_rates() {
    let tg = FakeTelegram::start().await;
    let user = tg.user(5, Some("ru"));
    let http = reqwest::Client::new();
    let kb = json!({"inline_keyboard":[[{"text":"Cancel","callback_data":"c:1"}]]});
    let (_, m) =
        call(&http, &tg, "sendMessage", json!({"chat_id":5,"text":"Queued","reply_markup":kb})).await;
    let mid = m["result"]["message_id"].as_i64().unwrap();

    let (s, e) = call(
        &http,
        &tg,
        "editMessageText",
        json!({"chat_id":5,"message_id":mid,"text":"Queued","reply_markup":kb}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(e["description"].as_str().unwrap().starts_with("Bad Request: message is not modified"));
    let (s, _) =
        call(&http, &tg, "editMessageText", json!({"chat_id":5,"message_id":mid,"text":"Running"})).await;
    assert_eq!(s, 200);
    let now = user.last_message().unwrap();
    assert_eq!((now.text_or_caption.as_str(), now.edited, now.reply_markup.clone()), ("Running", 1, None));

    // Button press -> callback query update carrying the current message.
    let cb = user.press_button(mid, "c:1");
    let (_, u) = call(&http, &tg, "getUpdates", json!({})).await;
    let q = &u["result"][0]["callback_query"];
    assert_eq!(q["data"], "c:1");
    assert_eq!(q["message"]["text"], "Running");
    assert_eq!(tg.unanswered_callbacks(), vec![cb.clone()]);
    assert_eq!(call(&http, &tg, "answerCallbackQuery", json!({"callback_query_id":cb})).await.0, 200);
    assert!(tg.unanswered_callbacks().is_empty());

    tg.fail_next("SendMessage", 1, TgFault::TooManyRequests { retry_after: 2 });
    let (s, e) = call(&http, &tg, "sendMessage", json!({"chat_id":5,"text":"x"})).await;
    assert_eq!(s, 429);
    assert_eq!(
        e,
        json!({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}})
    );
    assert_eq!(call(&http, &tg, "sendMessage", json!({"chat_id":5,"text":"x"})).await.0, 200);
    assert_eq!(
        call(&http, &tg, "sendMessage", json!({"chat_id":999,"text":"x"})).await.1["description"],
        "Bad Request: chat not found"
    );
    assert_eq!(call(&http, &tg, "deleteMessage", json!({"chat_id":5,"message_id":mid})).await.0, 200);
    assert!(tg.messages(5)[0].deleted);
    assert!(tg.dump(5).starts_with("#1 Text edited×1 DELETED \"Running\""), "{}", tg.dump(5));
    assert_eq!(tg.max_sends_per_second(5), 2);
    user.set_blocked(true);
    assert_eq!(call(&http, &tg, "sendMessage", json!({"chat_id":5,"text":"x"})).await.0, 403);
    assert!(tg.wait_for(|t| t.calls().len() >= 10, Duration::from_millis(100)).await);
}

mod with_teloxide {
    use super::*;
    use teloxide::net::Download;
    use teloxide::prelude::*;
    use teloxide::types::{
        InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MediaKind, MessageKind as TK, UpdateKind,
    };
    use teloxide::{ApiError, RequestError};

    fn bot(tg: &FakeTelegram) -> Bot {
        Bot::new(TOKEN).set_api_url(tg.url().parse().unwrap())
    }

    #[tokio::test]
    async fn teloxide_speaks_to_the_fake() {
        let tg = FakeTelegram::start().await;
        let user = tg.user(42, Some("en"));
        let bot = bot(&tg);

        let me = bot.get_me().await.unwrap();
        assert_eq!(me.username(), "backdrop_test_bot");
        bot.get_webhook_info().await.unwrap();
        bot.delete_webhook().await.unwrap();

        // Every kind of incoming update parses.
        let png = solid_png(40, 30, [1, 2, 3]);
        user.send_command("/start");
        user.send_photo(png.clone());
        user.send_document(b"%PDF-1.4".to_vec(), "a.pdf", "application/pdf");
        user.send_sticker();
        let updates = bot.get_updates().timeout(2).await.unwrap();
        assert_eq!(updates.len(), 4);
        let kinds: Vec<_> = updates
            .iter()
            .map(|u| match &u.kind {
                UpdateKind::Message(m) => match &m.kind {
                    TK::Common(c) => match &c.media_kind {
                        MediaKind::Text(_) => "text",
                        MediaKind::Photo(_) => "photo",
                        MediaKind::Document(_) => "document",
                        MediaKind::Sticker(_) => "sticker",
                        _ => "other media",
                    },
                    _ => "other message",
                },
                _ => "other update",
            })
            .collect();
        assert_eq!(kinds, ["text", "photo", "document", "sticker"]);
        let UpdateKind::Message(photo_msg) = &updates[1].kind else { unreachable!() };
        let largest = photo_msg.photo().unwrap().last().unwrap();
        assert_eq!((largest.width, largest.height), (40, 30));
        let file = bot.get_file(largest.file.id.clone()).await.unwrap();
        let mut got: Vec<u8> = Vec::new();
        bot.download_file(&file.path, &mut got).await.unwrap();
        assert_eq!(got, png);
        let next = updates.last().unwrap().id.0 as i32 + 1;

        // Outgoing: text with a keyboard, edit, photo upload, not-modified error, 429.
        let kb = InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback("Cancel", "c:9")]]);
        let sent = bot.send_message(ChatId(42), "Queued").reply_markup(kb.clone()).await.unwrap();
        let edited =
            bot.edit_message_text(ChatId(42), sent.id, "Running").reply_markup(kb.clone()).await.unwrap();
        assert_eq!(edited.text(), Some("Running"));
        let err = bot.edit_message_text(ChatId(42), sent.id, "Running").reply_markup(kb).await.unwrap_err();
        assert!(matches!(err, RequestError::Api(ApiError::MessageNotModified)), "{err:?}");
        let photo = bot
            .send_photo(ChatId(42), InputFile::memory(png.clone()).file_name("r.png"))
            .caption("Done")
            .await
            .unwrap();
        assert_eq!(photo.caption(), Some("Done"));
        assert_eq!(tg.last_message(42).unwrap().file.unwrap(), png);
        let other = solid_png(50, 50, [7, 7, 7]);
        let media = teloxide::types::InputMedia::Photo(
            teloxide::types::InputMediaPhoto::new(InputFile::memory(other.clone()).file_name("o.png"))
                .caption("Again"),
        );
        let replaced = bot.edit_message_media(ChatId(42), photo.id, media).await.unwrap();
        assert_eq!(replaced.caption(), Some("Again"));
        let shown = tg.last_message(42).unwrap();
        assert_eq!((shown.file.unwrap(), shown.edited), (other.clone(), 1));
        assert_eq!(tg.calls_of("EditMessageMedia")[0].file.as_deref(), Some(other.as_slice()));
        bot.send_document(ChatId(42), InputFile::memory(png.clone()).file_name("full.png")).await.unwrap();
        assert_eq!(tg.last_message(42).unwrap().file_name.as_deref(), Some("full.png"));
        tg.fail_next("sendmessage", 1, TgFault::TooManyRequests { retry_after: 3 });
        let err = bot.send_message(ChatId(42), "x").await.unwrap_err();
        assert!(matches!(err, RequestError::RetryAfter(s) if s.seconds() == 3), "{err:?}");

        // A button press parses as a callback query with the (accessible) message.
        user.press_button(sent.id.0 as i64, "c:9");
        let updates = bot.get_updates().offset(next).timeout(2).await.unwrap();
        let UpdateKind::CallbackQuery(q) = &updates[0].kind else { panic!("{updates:?}") };
        assert_eq!(q.data.as_deref(), Some("c:9"));
        assert_eq!(q.regular_message().unwrap().text(), Some("Running"));
        assert_eq!(q.from.language_code.as_deref(), Some("en"));
        bot.answer_callback_query(q.id.clone()).await.unwrap();
        bot.set_my_commands(vec![teloxide::types::BotCommand::new("start", "Start")]).await.unwrap();
        assert_eq!(tg.commands().unwrap()[0]["command"], "start");
        assert!(tg.unknown_methods().is_empty(), "{:?}", tg.unknown_methods());
    }
}

mod with_dispatcher {
    use super::*;
    use teloxide::prelude::*;

    /// A real teloxide Dispatcher (long polling) against the fake: the reply arrives,
    /// the poll does not spin, and no unknown method is used.
    #[tokio::test]
    async fn echo_bot_roundtrip() {
        let tg = FakeTelegram::start().await;
        let user = tg.user(77, Some("ru"));
        let bot = Bot::new(TOKEN).set_api_url(tg.url().parse().unwrap());
        let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
            if let Some(t) = msg.text() {
                bot.send_message(msg.chat.id, format!("echo: {t}")).await?;
            }
            respond(())
        });
        let mut dispatcher = Dispatcher::builder(bot, handler).build();
        let task = tokio::spawn(async move { dispatcher.dispatch().await });

        user.send_text("one");
        assert!(tg.wait_for(|t| t.messages(77).len() == 1, Duration::from_secs(5)).await);
        user.send_text("two");
        assert!(tg.wait_for(|t| t.messages(77).len() == 2, Duration::from_secs(5)).await);
        assert_eq!(tg.messages(77)[1].text_or_caption, "echo: two");
        // Long polling: a handful of getUpdates calls, not hundreds.
        let polls = tg.calls_of("GetUpdates").len();
        assert!(polls < 10, "{polls} getUpdates calls");
        assert!(tg.unknown_methods().is_empty(), "{:?}", tg.unknown_methods());
        task.abort();
    }
}

#[tokio::test]
async fn webhook_mode_pushes_updates_with_the_secret() {
    use axum::http::HeaderMap;
    use axum::{Router, routing::post};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, Value)>();
    let fails = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let app = Router::new().route(
        "/tg",
        post(move |headers: HeaderMap, axum::Json(v): axum::Json<Value>| {
            let (tx, fails) = (tx.clone(), fails.clone());
            async move {
                // The first delivery fails: Telegram must retry it.
                if fails.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let secret =
                    headers.get("x-telegram-bot-api-secret-token").map(|h| h.to_str().unwrap().to_owned());
                let _ = tx.send((secret, v));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/tg", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let tg = FakeTelegram::start().await;
    let user = tg.user(3, None);
    let http = reqwest::Client::new();
    let (s, _) = call(&http, &tg, "setWebhook", json!({"url": hook, "secret_token": "s3cr3t"})).await;
    assert_eq!(s, 200);
    let (s, _) = call(&http, &tg, "getUpdates", json!({})).await;
    assert_eq!(s, 409);
    user.send_text("a");
    user.send_text("b");
    for expected in ["a", "b"] {
        let (secret, u) = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await.unwrap().unwrap();
        assert_eq!(secret.as_deref(), Some("s3cr3t"));
        assert_eq!(u["message"]["text"], expected);
    }
    assert!(tg.wait_for(|t| t.pending_updates() == 0, Duration::from_secs(1)).await);
    let pushes = tg.webhook_pushes();
    assert_eq!(pushes.len(), 3);
    assert_eq!(pushes[0].status, Some(503));
    assert_eq!(call(&http, &tg, "deleteWebhook", json!({})).await.0, 200);
    assert_eq!(call(&http, &tg, "getUpdates", json!({})).await.0, 200);
}

#[tokio::test]
async fn html_parse_mode_and_form_encoding() {
    let tg = FakeTelegram::start().await;
    let user = tg.user(9, None);
    let http = reqwest::Client::new();
    let (s, m) = call(
        &http,
        &tg,
        "sendMessage",
        json!({"chat_id":9,"text":"<b>Done</b> in 3&nbsp;s","parse_mode":"HTML"}),
    )
    .await;
    assert_eq!(s, 400, "{m}");
    assert!(m["description"].as_str().unwrap().starts_with("Bad Request: can't parse entities"));
    let (s, m) =
        call(&http, &tg, "sendMessage", json!({"chat_id":9,"text":"<b>Done</b> &lt;3","parse_mode":"HTML"}))
            .await;
    assert_eq!(s, 200);
    assert_eq!(m["result"]["text"], "Done <3");
    assert_eq!(user.last_message().unwrap().text_or_caption, "Done <3");

    // form-urlencoded, integer fields normalised to numbers in the log.
    let r = http
        .post(format!("{}/bot{TOKEN}/sendmessage", tg.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("chat_id=9&text=hi%20there+you")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = tg.calls().pop().unwrap();
    assert_eq!(c.params["chat_id"], 9);
    assert_eq!(c.params["text"], "hi there you");
    assert_eq!(c.method, "SendMessage");
}

/// sendMediaGroup as teloxide sends it (multipart: `media` JSON naming `attach://` parts):
/// one message per item sharing a `media_group_id`; malformed albums are refused whole,
/// with Telegram's descriptions, and store nothing.
#[tokio::test]
async fn send_media_group_takes_a_whole_album_or_nothing() {
    let tg = FakeTelegram::start().await;
    let user = tg.user(8, None);
    let http = reqwest::Client::new();
    let (a, b) = (solid_png(120, 80, [9, 9, 9]), solid_png(80, 120, [200, 9, 9]));
    let album = |media: &str, parts: &[(&str, &Vec<u8>)]| {
        let mut form = reqwest::multipart::Form::new().text("chat_id", "8").text("media", media.to_owned());
        for (name, bytes) in parts {
            form = form
                .part(name.to_string(), reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("x.png"));
        }
        let request = http.post(format!("{}/bot{TOKEN}/SendMediaGroup", tg.url())).multipart(form);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let photos =
        r#"[{"type":"photo","media":"attach://a"},{"type":"photo","media":"attach://b","caption":"two"}]"#;
    let (status, r) = album(photos, &[("a", &a), ("b", &b)]).await;
    assert_eq!((status, &r["ok"]), (200, &json!(true)), "{r}");
    let sent = r["result"].as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert!(sent[0]["media_group_id"].is_string() && sent[0]["media_group_id"] == sent[1]["media_group_id"]);
    assert_eq!(sent[1]["caption"], "two");
    let screen = user.messages();
    assert_eq!(screen.len(), 2);
    assert_eq!(screen[1].file.as_deref(), Some(b.as_slice()));
    assert!(screen[0].media_group_id.is_some() && screen[0].media_group_id == screen[1].media_group_id);

    let refused = [
        (r#"[{"type":"photo","media":"attach://a"}]"#, "wrong number of media"),
        (r#"[]"#, "media to send are not specified"),
        (r#"{"type":"photo"}"#, "expected an Array of InputMedia"),
        ("not json", "can't parse media JSON object"),
        (
            r#"[{"type":"photo","media":"attach://a"},{"type":"document","media":"attach://b"}]"#,
            "can't be mixed",
        ),
        (r#"[{"type":"photo","media":"attach://a"},{"type":"photo","media":"attach://zz"}]"#, "no media"),
        (r#"[{"type":"photo","media":"attach://a"},{"type":"photo"}]"#, "media not found"),
        (r#"[{"type":"sticker","media":"attach://a"},{"type":"photo","media":"attach://b"}]"#, "unsupported"),
    ];
    for (media, why) in refused {
        let (status, r) = album(media, &[("a", &a), ("b", &b)]).await;
        assert_eq!(status, 400, "{media}: {r}");
        assert!(r["description"].as_str().unwrap().contains(why), "{media}: {r}");
    }
    let eleven = format!("[{}]", [r#"{"type":"photo","media":"attach://a"}"#; 11].join(","));
    let (status, r) = album(&eleven, &[("a", &a)]).await;
    assert_eq!(status, 400, "{r}");
    let (status, r) = call(&http, &tg, "sendMediaGroup", json!({"chat_id": 8})).await;
    assert_eq!(status, 400, "{r}");
    assert_eq!(user.messages().len(), 2, "nothing of a refused album was stored");
}
