//! Every text a user of the bot can see, in Russian and English, in one place.
//!
//! Handlers and the status task never write user-facing words themselves: they ask this
//! module, so a wording change or a new language touches one file. Russian is the default;
//! users whose Telegram interface is English get English.

use std::time::Duration;

use crate::input_image::InputImageError;
use crate::job::FailReason;
use crate::output::OutputFormat;

/// The language a user is answered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    /// From Telegram's `language_code` (`en`, `en-GB`, `ru`, ...); Russian unless English.
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some(code) if code.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("en")) => Self::En,
            _ => Self::Ru,
        }
    }

    /// The code stored with a job; [`Lang::from_code`] reads it back.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ru => "ru",
            Self::En => "en",
        }
    }

    /// The `language_code` Telegram's command menu is registered under (`None`: default).
    pub fn command_scope_code(self) -> Option<&'static str> {
        match self {
            Self::Ru => None,
            Self::En => Some("en"),
        }
    }
}

/// The language a user picked in `/settings`: Telegram's (`Auto`, the default) or one of
/// ours, whatever their Telegram interface says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LangChoice {
    #[default]
    Auto,
    Fixed(Lang),
}

impl LangChoice {
    pub const ALL: [LangChoice; 3] = [Self::Auto, Self::Fixed(Lang::Ru), Self::Fixed(Lang::En)];

    /// Its short name, on buttons and in the store (`auto`, `ru`, `en`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fixed(lang) => lang.code(),
        }
    }

    /// Only our own names, exactly as [`LangChoice::name`] writes them.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The language to answer in, given the user's Telegram `language_code`.
    pub fn lang(self, telegram_code: Option<&str>) -> Lang {
        match self {
            Self::Auto => Lang::from_code(telegram_code),
            Self::Fixed(lang) => lang,
        }
    }
}

/// Picks the text of `lang` from a Russian/English pair.
fn pick(lang: Lang, ru: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Ru => ru,
        Lang::En => en,
    }
}

/// Why a picture the user sent cannot be used; each maps to one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    NotAnImage,
    TooManyPixels,
    Broken,
    /// Telegram would not give us the file (or the download broke off).
    DownloadFailed,
}

impl From<&InputImageError> for Refusal {
    fn from(e: &InputImageError) -> Self {
        match e {
            InputImageError::FileTooLarge { .. } => Self::TooLarge,
            InputImageError::NotAnImage => Self::NotAnImage,
            InputImageError::TooManyPixels { .. } => Self::TooManyPixels,
            InputImageError::Empty | InputImageError::Broken(_) => Self::Broken,
        }
    }
}

// --- Commands and the conversation -------------------------------------------------

pub fn command_start(lang: Lang) -> &'static str {
    pick(lang, "Начать: отправить фото товара", "Start: send a product photo")
}

pub fn command_help(lang: Lang) -> &'static str {
    pick(lang, "Как это работает и советы", "How it works, and tips")
}

pub fn command_cancel(lang: Lang) -> &'static str {
    pick(lang, "Отменить текущую задачу или шаг", "Cancel the current job or step")
}

pub fn command_settings(lang: Lang) -> &'static str {
    pick(lang, "Настройки: формат, варианты, язык", "Settings: format, variants, language")
}

/// The `/settings` message, above the formats' buttons.
pub fn settings(lang: Lang, current: OutputFormat) -> String {
    let label = format_label(lang, current);
    match lang {
        Lang::Ru => {
            format!("Формат результата: {label}.\nВыберите, в каком виде присылать следующие результаты:")
        }
        Lang::En => format!("Format of the results: {label}.\nChoose how the next results should come:"),
    }
}

/// A format's name on its button.
pub fn format_label(lang: Lang, format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Original => pick(lang, "Как фон (исходный кадр)", "As the background (its frame)"),
        OutputFormat::Square => pick(lang, "Квадрат 1:1", "Square 1:1"),
        OutputFormat::Wildberries => pick(lang, "Wildberries 3:4", "Wildberries 3:4"),
        OutputFormat::Ozon => pick(lang, "Ozon 3:4", "Ozon 3:4"),
        OutputFormat::Amazon => pick(lang, "Amazon: белый фон", "Amazon: pure white"),
    }
}

pub fn answer_format_chosen(lang: Lang, format: OutputFormat) -> String {
    let label = format_label(lang, format);
    match lang {
        Lang::Ru => format!("Формат: {label}"),
        Lang::En => format!("Format: {label}"),
    }
}

/// The `/settings` message above the variant counts' buttons.
pub fn settings_variants(lang: Lang, current: u8) -> String {
    match lang {
        Lang::Ru => format!(
            "Вариантов на запрос: {current}.\nСколько разных картинок делать из одной пары фото (они придут одним альбомом):"
        ),
        Lang::En => format!(
            "Variants per request: {current}.\nHow many different pictures to make of one pair of photos (they come as one album):"
        ),
    }
}

pub fn answer_variants_chosen(lang: Lang, n: u8) -> String {
    match lang {
        Lang::Ru => format!("Вариантов: {n}"),
        Lang::En => format!("Variants: {n}"),
    }
}

/// A variant count over `MAX_JOBS_PER_USER`: it could never start.
pub fn answer_too_many_variants(lang: Lang, max: usize) -> String {
    match lang {
        Lang::Ru => format!("Не больше {max}: столько задач может быть в работе одновременно."),
        Lang::En => format!("At most {max}: that many jobs may be in progress at once."),
    }
}

/// A language's name on its button.
pub fn language_label(lang: Lang, choice: LangChoice) -> &'static str {
    match choice {
        LangChoice::Auto => pick(lang, "Как в Telegram", "As in Telegram"),
        LangChoice::Fixed(Lang::Ru) => "Русский",
        LangChoice::Fixed(Lang::En) => "English",
    }
}

/// The `/settings` message above the languages' buttons.
pub fn settings_language(lang: Lang, current: LangChoice) -> String {
    let label = language_label(lang, current);
    match lang {
        Lang::Ru => format!("Язык: {label}.\nНа каком языке отвечать:"),
        Lang::En => format!("Language: {label}.\nWhich language to answer in:"),
    }
}

pub fn answer_language_chosen(lang: Lang, choice: LangChoice) -> String {
    let label = language_label(lang, choice);
    match lang {
        Lang::Ru => format!("Язык: {label}"),
        Lang::En => format!("Language: {label}"),
    }
}

/// A settings button whose value we never offer (forged, or from an older menu).
pub fn answer_setting_refused(lang: Lang) -> &'static str {
    pick(lang, "Такой настройки нет; ничего не изменено.", "No such setting; nothing was changed.")
}

pub fn greeting(lang: Lang) -> &'static str {
    pick(
        lang,
        "Здравствуйте! Я сделаю из любительского фото товара профессиональное.\n\n\
         1. Пришлите фото товара.\n2. Затем фото фона или обстановки, в которую его поставить.\n\n\
         Жду фото товара.",
        "Hello! I turn an amateur product photo into a professional one.\n\n\
         1. Send the product photo.\n2. Then a photo of the background or scene to put it in.\n\n\
         Send me the product photo.",
    )
}

pub fn help(lang: Lang) -> &'static str {
    pick(
        lang,
        "Как пользоваться:\n\
         1. Пришлите фото товара (как фото или как файл).\n\
         2. Пришлите фото фона — обстановки, в которой товар должен оказаться.\n\
         3. Дождитесь результата: статус обновляется, задачу можно отменить.\n\n\
         Советы:\n\
         • фото товара резкое, товар целиком в кадре;\n\
         • за товаром — ровный однотонный фон;\n\
         • JPEG, PNG или WebP, до 20 МБ и до 12000 пикселей по стороне.\n\n\
         /cancel — отменить текущую задачу или шаг.\n\
         /settings — формат результата (квадрат, Wildberries, Ozon, Amazon).",
        "How to use:\n\
         1. Send the product photo (as a photo or as a file).\n\
         2. Send a background photo: the scene the product should appear in.\n\
         3. Wait for the result: the status keeps updating, and you can cancel.\n\n\
         Tips:\n\
         • a sharp product photo, the whole product in the frame;\n\
         • a plain, even background behind the product;\n\
         • JPEG, PNG or WebP, up to 20 MB and 12000 pixels per side.\n\n\
         /cancel cancels the current job or step.\n\
         /settings picks the results' format (square, Wildberries, Ozon, Amazon).",
    )
}

pub fn button_scene_previews(lang: Lang) -> &'static str {
    pick(lang, "🖼 Показать сцены", "🖼 Show the scenes")
}

pub fn scene_previews(lang: Lang) -> &'static str {
    pick(
        lang,
        "Готовые сцены: кнопки ниже в том же порядке, что и картинки.",
        "The ready scenes: the buttons below are in the same order as the pictures.",
    )
}

pub fn answer_scene_previews(lang: Lang) -> &'static str {
    pick(lang, "Отправляю сцены…", "Sending the scenes…")
}

pub fn answer_scene_chosen(lang: Lang, scene: &str) -> String {
    match lang {
        Lang::Ru => format!("Сцена: {scene}"),
        Lang::En => format!("Scene: {scene}"),
    }
}

pub fn answer_scene_needs_product(lang: Lang) -> &'static str {
    pick(lang, "Сначала пришлите фото товара.", "Send the product photo first.")
}

pub fn ask_product(lang: Lang) -> &'static str {
    pick(lang, "Пришлите фото товара.", "Send me the product photo.")
}

pub fn ask_background(lang: Lang) -> &'static str {
    pick(
        lang,
        "Фото товара получено. Теперь пришлите фото фона — обстановки, в которую поставить товар, \
         или выберите готовую сцену.",
        "Got the product photo. Now send the background: a photo of the scene to put the product in, \
         or pick a ready scene.",
    )
}

/// Something other than a picture arrived while we wait for the product.
pub fn hint_product(lang: Lang) -> &'static str {
    pick(
        lang,
        "Я жду фото товара: пришлите его как фото или как файл (JPEG, PNG, WebP). /help — подсказки.",
        "I'm waiting for the product photo: send it as a photo or as a file (JPEG, PNG, WebP). /help for tips.",
    )
}

/// Something other than a picture arrived while we wait for the background.
pub fn hint_background(lang: Lang) -> &'static str {
    pick(
        lang,
        "Я жду фото фона: пришлите его как фото или как файл (JPEG, PNG, WebP). /cancel — начать заново.",
        "I'm waiting for the background photo: send it as a photo or as a file (JPEG, PNG, WebP). /cancel to start over.",
    )
}

pub fn refusal(lang: Lang, refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::TooLarge => pick(
            lang,
            "Файл больше 20 МБ. Пришлите фото поменьше или сожмите его.",
            "The file is over 20 MB. Please send a smaller or compressed photo.",
        ),
        Refusal::NotAnImage => pick(
            lang,
            "Это не изображение. Пришлите фото в формате JPEG, PNG или WebP.",
            "That is not an image. Please send a JPEG, PNG or WebP photo.",
        ),
        Refusal::TooManyPixels => pick(
            lang,
            "Изображение слишком большое (больше 50 мегапикселей или больше 12000 пикселей по стороне). Пришлите уменьшенную копию.",
            "The image is too large (over 50 megapixels or 12000 pixels per side). Please send a downscaled copy.",
        ),
        Refusal::Broken => pick(
            lang,
            "Не получается прочитать изображение: файл повреждён. Пришлите другое фото.",
            "I can't read this image: the file is damaged. Please send another photo.",
        ),
        Refusal::DownloadFailed => pick(
            lang,
            "Не удалось получить файл от Telegram. Пришлите его ещё раз.",
            "I couldn't get the file from Telegram. Please send it again.",
        ),
    }
}

pub fn cancelled_step(lang: Lang) -> &'static str {
    pick(
        lang,
        "Отменено. Пришлите фото товара, чтобы начать заново.",
        "Cancelled. Send a product photo to start again.",
    )
}

pub fn cancelling_jobs(lang: Lang) -> &'static str {
    pick(lang, "Отменяю задачу…", "Cancelling the job…")
}

pub fn nothing_to_cancel(lang: Lang) -> &'static str {
    pick(
        lang,
        "Отменять нечего. Пришлите фото товара, чтобы начать.",
        "Nothing to cancel. Send a product photo to start.",
    )
}

/// The bot stopped before the picture was taken: nothing was saved.
pub fn send_again_after_restart(lang: Lang) -> &'static str {
    pick(
        lang,
        "Бот перезапускался и не успел принять ваше фото. Пожалуйста, отправьте его ещё раз.",
        "The bot was restarting and could not take your photo. Please send it again.",
    )
}

/// The job is stored but the bot is stopping: it starts with the next start, by itself.
pub fn kept_for_restart(lang: Lang) -> &'static str {
    pick(
        lang,
        "Принято. Бот перезапускается: задача сохранена и начнётся сразу после перезапуска, присылать фото заново не нужно.",
        "Got it. The bot is restarting: the job is saved and starts right after the restart; no need to send the photos again.",
    )
}

pub fn stats_title(lang: Lang) -> &'static str {
    pick(lang, "📊 Статистика", "📊 Statistics")
}

pub fn internal_error(lang: Lang) -> &'static str {
    pick(lang, "Что-то пошло не так. Попробуйте ещё раз.", "Something went wrong. Please try again.")
}

// --- The status message -------------------------------------------------------------

pub fn status_queued(lang: Lang, position: usize) -> String {
    match lang {
        Lang::Ru => format!("⏳ В очереди, место {position}."),
        Lang::En => format!("⏳ Queued, position {position}."),
    }
}

pub fn status_generating(lang: Lang, elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    let (m, s) = (s / 60, s % 60);
    match lang {
        Lang::Ru if m > 0 => format!("🎨 Генерирую… {m} мин {s} с"),
        Lang::Ru => format!("🎨 Генерирую… {s} с"),
        Lang::En if m > 0 => format!("🎨 Generating… {m} min {s} s"),
        Lang::En => format!("🎨 Generating… {s} s"),
    }
}

/// How the jobs of one album stand, for its one status message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub total: usize,
    pub queued: usize,
    pub generating: usize,
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// The queue position of the album's next job to start, if one waits.
    pub next_position: Option<usize>,
}

impl BatchCounts {
    pub fn finished(&self) -> bool {
        self.done + self.failed + self.cancelled == self.total
    }
}

/// The one status message of an album's jobs.
pub fn status_batch(lang: Lang, c: &BatchCounts) -> String {
    let mut parts = Vec::new();
    let mut part = |n: usize, ru: String, en: String| {
        if n > 0 {
            parts.push(match lang {
                Lang::Ru => ru,
                Lang::En => en,
            });
        }
    };
    part(c.done, format!("✅ готово: {}", c.done), format!("✅ done: {}", c.done));
    part(c.generating, format!("🎨 генерирую: {}", c.generating), format!("🎨 generating: {}", c.generating));
    let next = |ru: bool| match c.next_position {
        Some(p) if ru => format!(" (следующее — {p}-е в очереди)"),
        Some(p) => format!(" (next is #{p} in line)"),
        None => String::new(),
    };
    part(
        c.queued,
        format!("⏳ в очереди: {}{}", c.queued, next(true)),
        format!("⏳ queued: {}{}", c.queued, next(false)),
    );
    part(c.failed, format!("❌ не получилось: {}", c.failed), format!("❌ failed: {}", c.failed));
    part(c.cancelled, format!("🚫 отменено: {}", c.cancelled), format!("🚫 cancelled: {}", c.cancelled));
    let head = match (lang, c.finished()) {
        (Lang::Ru, false) => format!("Альбом: {} фото", c.total),
        (Lang::En, false) => format!("Album: {} photos", c.total),
        (Lang::Ru, true) => format!("Альбом: {} фото — всё", c.total),
        (Lang::En, true) => format!("Album: {} photos — finished", c.total),
    };
    format!("{head}\n{}", parts.join(" · "))
}

pub fn button_cancel_all(lang: Lang) -> &'static str {
    pick(lang, "Отменить все", "Cancel all")
}

pub fn answer_cancelling_many(lang: Lang, n: usize) -> String {
    match lang {
        Lang::Ru => format!("Отменяю: {n}"),
        Lang::En => format!("Cancelling {n}"),
    }
}

pub fn status_done(lang: Lang) -> &'static str {
    pick(lang, "✅ Готово!", "✅ Done!")
}

pub fn status_cancelled(lang: Lang) -> &'static str {
    pick(lang, "Задача отменена.", "The job was cancelled.")
}

pub fn status_failed(lang: Lang, reason: &FailReason) -> String {
    let why = fail_reason(lang, reason);
    match lang {
        Lang::Ru => format!("❌ Не получилось: {why}"),
        Lang::En => format!("❌ It didn't work: {why}"),
    }
}

/// A failure in plain words; the technical detail goes to the log, not to the user.
pub fn fail_reason(lang: Lang, reason: &FailReason) -> &'static str {
    match reason {
        FailReason::Provider(_) => pick(
            lang,
            "сервис генерации не справился с этими фото. Попробуйте ещё раз или другие фото.",
            "the generation service could not process these photos. Try again, or try other photos.",
        ),
        FailReason::NoOutput => pick(
            lang,
            "сервис генерации не вернул изображение. Попробуйте ещё раз.",
            "the generation service returned no image. Please try again.",
        ),
        FailReason::Timeout(_) => pick(
            lang,
            "генерация заняла слишком много времени. Попробуйте ещё раз.",
            "the generation took too long. Please try again.",
        ),
        FailReason::BadInput(_) => pick(
            lang,
            "одно из фото не подходит. Начните заново с другими фото.",
            "one of the photos cannot be used. Start again with other photos.",
        ),
        FailReason::BackgroundNotPlain => pick(
            lang,
            "не удалось отделить товар от фона: фон слишком пёстрый. Сфотографируйте товар на ровном однотонном фоне — или попросите администратора бота включить ИИ-движок (RunningHub), он справляется и с пёстрым фоном.",
            "the product could not be separated from its background: the background is too busy. Photograph the product against a plain, even background, or ask the bot's operator to switch to the AI engine (RunningHub), which handles busy backgrounds.",
        ),
        FailReason::NoCapacity(_) | FailReason::Unavailable(_) => pick(
            lang,
            "сервис генерации сейчас недоступен. Попробуйте чуть позже.",
            "the generation service is unavailable right now. Please try again a little later.",
        ),
        FailReason::Undeliverable(_) => pick(
            lang,
            "результат не удалось отправить в этот чат. Отправьте фото ещё раз.",
            "the result could not be sent to this chat. Please send the photos again.",
        ),
        FailReason::Internal(_) => {
            pick(lang, "внутренняя ошибка. Попробуйте ещё раз.", "an internal error. Please try again.")
        }
    }
}

pub fn result_caption(lang: Lang) -> &'static str {
    pick(
        lang,
        "Готово! Можно сгенерировать ещё раз или начать с новым фото.",
        "Here it is! Regenerate, or start with a new photo.",
    )
}

/// The message after an album of variants, above its buttons: how many came out, and how
/// many failed if any did.
pub fn variants_delivered(lang: Lang, delivered: usize, failed: usize) -> String {
    match (lang, failed) {
        (Lang::Ru, 0) => {
            format!("Готово: вариантов — {delivered}. Можно сгенерировать ещё раз или начать с новым фото.")
        }
        (Lang::En, 0) => format!("Here are {delivered} variants! Regenerate, or start with a new photo."),
        (Lang::Ru, _) => format!(
            "Готово вариантов: {delivered} из {}; не получилось: {failed}. Можно сгенерировать ещё раз или начать с новым фото.",
            delivered + failed
        ),
        (Lang::En, _) => format!(
            "{delivered} of {} variants are here; {failed} failed. Regenerate, or start with a new photo.",
            delivered + failed
        ),
    }
}

/// Every variant of a request failed.
pub fn variants_all_failed(lang: Lang, failed: usize) -> String {
    match lang {
        Lang::Ru => {
            format!("Не получилось ни одного варианта из {failed}. Попробуйте ещё раз или другое фото.")
        }
        Lang::En => format!("None of the {failed} variants came out. Try again, or another photo."),
    }
}

/// Originals of an album of variants, on the first document.
pub fn originals_caption(lang: Lang) -> &'static str {
    pick(lang, "Оригиналы в полном разрешении.", "The full-resolution originals.")
}

pub fn original_caption(lang: Lang) -> &'static str {
    pick(lang, "Оригинал в полном разрешении.", "The full-resolution original.")
}

// --- Buttons and their answers ------------------------------------------------------

pub fn button_cancel(lang: Lang) -> &'static str {
    pick(lang, "✖️ Отменить", "✖️ Cancel")
}

pub fn button_regenerate(lang: Lang) -> &'static str {
    pick(lang, "🔄 Ещё вариант", "🔄 Regenerate")
}

pub fn button_retry(lang: Lang) -> &'static str {
    pick(lang, "🔁 Повторить", "🔁 Retry")
}

pub fn button_new_photo(lang: Lang) -> &'static str {
    pick(lang, "📷 Новое фото", "📷 New photo")
}

pub fn answer_cancelling(lang: Lang) -> &'static str {
    pick(lang, "Отменяю…", "Cancelling…")
}

pub fn answer_already_finished(lang: Lang) -> &'static str {
    pick(lang, "Эта задача уже завершена.", "This job has already finished.")
}

pub fn answer_started_again(lang: Lang) -> &'static str {
    pick(lang, "Запускаю заново…", "Starting again…")
}

pub fn answer_already_retried(lang: Lang) -> &'static str {
    pick(lang, "Уже запущено заново.", "Already started again.")
}

/// An album of products: all of them go into the background that comes next.
pub fn ask_background_for(lang: Lang, products: usize) -> String {
    match lang {
        Lang::Ru => format!(
            "Получил {products} фото товаров. Теперь пришлите фон: фото сцены, в которую поместить их все."
        ),
        Lang::En => {
            format!(
                "Got {products} product photos. Now send the background: a photo of the scene to put them all in."
            )
        }
    }
}

/// An album where one background was expected.
pub fn album_as_background(lang: Lang) -> &'static str {
    pick(
        lang,
        "Пришёл альбом, а нужен один фон: беру его первое фото как фон.",
        "That was an album, and one background is needed: I am using its first photo as the background.",
    )
}

/// An album with more products than are taken at once.
pub fn album_too_long(lang: Lang, max: usize) -> String {
    match lang {
        Lang::Ru => format!("Из альбома взяты первые {max} фото; остальные пришлите отдельно."),
        Lang::En => format!("The first {max} photos of the album were taken; send the others separately."),
    }
}

/// More jobs than `MAX_JOBS_PER_USER` in progress: the picture is kept, nothing started.
pub fn too_many_jobs(lang: Lang, max: usize) -> String {
    match lang {
        Lang::Ru => format!(
            "У вас уже {max} задачи в работе — это максимум. Дождитесь результата одной из них и отправьте фото ещё раз."
        ),
        Lang::En => format!(
            "You already have {max} jobs in progress, the most at once. Wait for one to finish, then send the photo again."
        ),
    }
}

/// A request of `variants` variants (one set per product) with room for fewer jobs.
pub fn too_many_variants(lang: Lang, variants: u8, room: usize, max: usize) -> String {
    match lang {
        Lang::Ru => format!(
            "Запрос из {variants} вариантов — это {variants} задачи, а свободно мест: {room} из {max}. \
             Дождитесь результатов или выберите меньше вариантов в /settings, затем отправьте фото ещё раз."
        ),
        Lang::En => format!(
            "A request of {variants} variants is {variants} jobs, and {room} of your {max} places are free. \
             Wait for results or choose fewer variants in /settings, then send the photo again."
        ),
    }
}

/// The same toast for a second press that came too soon, and for one beyond the limit.
pub fn answer_too_many_jobs(lang: Lang) -> &'static str {
    pick(
        lang,
        "Слишком много задач в работе: дождитесь результата.",
        "Too many jobs in progress: wait for a result.",
    )
}

pub fn answer_new_photo(lang: Lang) -> &'static str {
    pick(lang, "Жду новое фото товара.", "Waiting for a new product photo.")
}

/// A button that is not this user's, or data we never produced.
pub fn answer_not_yours(lang: Lang) -> &'static str {
    pick(lang, "Эта кнопка не для вас.", "This button is not for you.")
}

/// A button of a job the bot no longer knows (an old message, a restart).
pub fn answer_expired(lang: Lang) -> &'static str {
    pick(
        lang,
        "Эта кнопка устарела. Пришлите фото товара, чтобы начать заново.",
        "This button has expired. Send a product photo to start again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_only_for_english_users() {
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert_eq!(Lang::from_code(Some("en-GB")), Lang::En);
        assert_eq!(Lang::from_code(Some("ru")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("de")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("e")), Lang::Ru);
        assert_eq!(Lang::from_code(None), Lang::Ru);
    }

    #[test]
    fn elapsed_time_reads_naturally() {
        assert_eq!(status_generating(Lang::En, Duration::from_secs(75)), "🎨 Generating… 1 min 15 s");
        let album = BatchCounts {
            total: 4,
            queued: 2,
            generating: 1,
            done: 1,
            next_position: Some(3),
            ..Default::default()
        };
        assert_eq!(
            status_batch(Lang::En, &album),
            "Album: 4 photos\n✅ done: 1 · 🎨 generating: 1 · ⏳ queued: 2 (next is #3 in line)"
        );
        let over = BatchCounts { total: 2, done: 1, failed: 1, ..Default::default() };
        assert_eq!(status_batch(Lang::En, &over), "Album: 2 photos — finished\n✅ done: 1 · ❌ failed: 1");
        assert_eq!(status_generating(Lang::Ru, Duration::from_secs(9)), "🎨 Генерирую… 9 с");
    }

    #[test]
    fn failures_never_leak_technical_detail() {
        let text = status_failed(Lang::En, &FailReason::Provider("node 32 exploded at 0xdead".into()));
        assert!(!text.contains("0xdead"));
    }
}
