//! `comparison.html` in a real browser: a demo-sized run's page, rendered by headless Chromium,
//! holds every model and class, every image decodes, it makes no network request, and it loads
//! within a few seconds. Needs Debian's `chromium-headless-shell` (or `chromium`): `.ci/run`
//! installs it and sets `CI`, where a missing browser fails the test; elsewhere it is skipped
//! with a notice.

use common::s;
use std::path::{Path, PathBuf};
use std::process::Command;

fn browser() -> Option<PathBuf> {
    [
        "chromium-headless-shell",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]
    .iter()
    .flat_map(|b| {
        std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(b))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    })
    .find(|p| p.is_file())
}

/// Runs the browser on `page` with every network request made to fail, and returns what it
/// printed (the DOM after the load event, with `--dump-dom`).
fn dump_dom(browser: &Path, page: &Path, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run the browser");
    assert!(
        out.status.success(),
        "browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks a page's own pictures and requests once it has loaded, and records the result on
/// `<body>` (`data-images-ok`, `data-images-broken`, `data-requests`, `data-load-ms`). The page
/// itself runs no script: the test adds this one to a copy whose policy lets it run.
const CHECK_SCRIPT: &str = r#"
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var b = document.body.dataset;
  b.imagesOk = ok; b.imagesBroken = imgs.length - ok;
  b.requests = performance.getEntriesByType("resource").filter(function (e) { return !/^data:/.test(e.name); }).length;
  b.loadMs = Math.round(performance.now());
});
"#;

/// A copy of `html` beside `page` with `script` added at the end of its body and, when
/// `allow` is set, its policy widened to let inline scripts run.
fn with_script(page: &Path, html: &str, name: &str, script: &str, allow: bool) -> PathBuf {
    let csp = shapeclf::report::html::CSP;
    let mut h = html.replace("</body>", &format!("<script>{script}</script>\n</body>"));
    if allow {
        h = h.replace(csp, &format!("{csp}; script-src 'unsafe-inline'"));
    }
    let p = page.with_file_name(name);
    std::fs::write(&p, h).unwrap();
    p
}

fn attr(dom: &str, name: &str) -> Option<i64> {
    let key = format!("{name}=\"");
    let at = dom.find(&key)? + key.len();
    dom[at..].split('"').next()?.parse().ok()
}

#[test]
fn comparison_page_renders_complete_and_offline() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium-headless-shell for this test"
        );
        eprintln!("skipped: no Chromium found (apt-get install chromium-headless-shell)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    let features = d.path().join("features");
    let models = d.path().join("models");
    common::shapeclf_ok(&["synth", s(&meshes), "--per-class", "5", "--seed", "3"]);
    common::shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&features),
        "--d2-points",
        "256",
        "--sdf-points",
        "128",
        "--view-res",
        "16",
    ]);
    let train = |model: &str, name: &str, seed: &str, extra: &[&str]| {
        let mut a = vec![
            "train",
            "--model",
            model,
            "--features",
            s(&features),
            "--seed",
            seed,
        ];
        let out = models.join(name);
        a.extend(["--out", s(&out)]);
        a.extend(extra);
        common::shapeclf_ok(&a);
    };
    for seed in ["0", "1"] {
        train(
            "logistic",
            &format!("logistic-s{seed}"),
            seed,
            &["--weight-decay", "0.001"],
        );
    }
    train("mlp", "mlp", "0", &["--epochs", "30"]);
    train("cnn", "cnn", "0", &["--epochs", "3", "--channels", "8,16"]);
    let out = common::shapeclf_ok(&["compare", "--models", s(&models)]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("comparison.html"));
    let page = models.join("comparison.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("src=\"/"),
        "the page refers to nothing outside itself"
    );

    // Issue #23: the page shipped an inline script under `script-src 'unsafe-inline'`, while the
    // README says its policy forbids scripts. It holds none, and its policy blocks one added.
    assert!(!html.contains("<script"), "the page holds no script");
    let csp = shapeclf::report::html::CSP;
    assert!(html.contains(&format!("content=\"{csp}\"")) && !csp.contains("script-src"));
    let tampered = with_script(
        &page,
        &html,
        "tampered.html",
        "document.body.dataset.scriptRan = 1;",
        false,
    );
    let dom = dump_dom(&browser, &tampered, &["--dump-dom"]);
    assert!(dom.contains("</footer>"), "the page rendered");
    assert!(
        !dom.contains("data-script-ran"),
        "a script ran under the page's policy"
    );

    let checked = with_script(&page, &html, "checked.html", CHECK_SCRIPT, true);
    let dom = dump_dom(&browser, &checked, &["--dump-dom"]);
    for name in ["logistic-s0, logistic-s1", "mlp", "cnn"] {
        assert!(dom.contains(name), "{name} missing from the page");
    }
    assert!(dom.contains("±"), "two seeds of logistic give mean ± std");
    for class in shapeclf::synth::CLASSES {
        assert!(
            dom.contains(&format!("<th scope=\"row\" class=\"l\">{class}</th>")),
            "class {class} missing"
        );
    }
    let ok = attr(&dom, "data-images-ok").expect("the page's check ran");
    assert!(ok >= 8, "{ok} images decoded");
    assert_eq!(attr(&dom, "data-images-broken"), Some(0), "broken images");
    assert_eq!(attr(&dom, "data-requests"), Some(0), "network requests");
    let ms = attr(&dom, "data-load-ms").unwrap();
    assert!(ms < 5000, "loaded in {ms} ms");

    // A screenshot for people to look at, where asked for.
    if let Some(shot) = std::env::var_os("SHAPECLF_SCREENSHOT") {
        let shot = PathBuf::from(shot);
        dump_dom(
            &browser,
            &page,
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1280,2400",
                "--hide-scrollbars",
            ],
        );
        assert!(shot.is_file());
    }
}

mod common;
