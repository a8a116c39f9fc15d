//! Every text rendering of results: the classification report, a model's Markdown report and
//! the comparison of models, as terminal text or Markdown through one [`Table`] renderer.

use super::{ClassScores, Metrics, Report};

/// Text from files (class names, paths, model names) as Markdown that shows it as it is: the
/// characters Markdown or HTML would act on (`|`, `*`, `_`, `<`, `&`, ...) backslash-escaped, and
/// control characters, newlines among them, written as escapes so a name stays on its line.
pub fn md_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in crate::text::escape_controls(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '#' | '~' | '!'
        ) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Text as an inline Markdown code span, whatever backticks it holds (control characters
/// escaped, as in [`md_text`]).
pub fn md_code(s: &str) -> String {
    let s = crate::text::escape_controls(s);
    let mut run = 0;
    let mut longest = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush left.
    Left,
    /// Flush right (numbers).
    Right,
}

/// A table of strings rendered either as aligned terminal text or as a Markdown table, so the
/// two renderings of one table can never disagree.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(headers: &[(&str, Align)]) -> Table {
        Table {
            headers: headers.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells are empty, extra cells dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Aligned columns two spaces apart; the last column is not padded.
    pub fn text(&self) -> String {
        let n = self.headers.len();
        let width: Vec<usize> = (0..n)
            .map(|j| {
                self.rows
                    .iter()
                    .map(|r| r[j].chars().count())
                    .chain([self.headers[j].0.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let mut s = String::new();
            for (j, c) in cells.iter().enumerate() {
                if j > 0 {
                    s += "  ";
                }
                let pad = width[j].saturating_sub(c.chars().count());
                match self.headers[j].1 {
                    Align::Right => s += &format!("{}{c}", " ".repeat(pad)),
                    Align::Left if j + 1 == n => s += c,
                    Align::Left => s += &format!("{c}{}", " ".repeat(pad)),
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut s = line(self.headers.iter().map(|h| h.0.as_str()).collect());
        for r in &self.rows {
            s += &line(r.iter().map(String::as_str).collect());
        }
        s
    }

    /// A Markdown table (cells through [`md_text`]).
    pub fn markdown(&self) -> String {
        let esc = md_text;
        let mut s = String::from("|");
        for (h, _) in &self.headers {
            s += &format!(" {} |", esc(h));
        }
        s += "\n|";
        for (_, a) in &self.headers {
            s += match a {
                Align::Left => "---|",
                Align::Right => "---:|",
            };
        }
        s += "\n";
        for r in &self.rows {
            s += "|";
            for c in r {
                s += &format!(" {} |", esc(c));
            }
            s += "\n";
        }
        s
    }
}

impl Metrics {
    /// A classification report in scikit-learn's layout, then the confusion matrix.
    pub fn to_text(&self) -> String {
        // Widths in characters, as Rust pads: an accented name takes as many columns as it
        // has characters, not bytes (wide CJK characters still take two each).
        let label = |i: usize| format!("{} {i}", self.classes[i]);
        let w = self
            .classes
            .iter()
            .map(|c| c.chars().count())
            .chain((0..self.classes.len()).map(|i| label(i).chars().count()))
            .chain([12])
            .max()
            .unwrap_or(12);
        let mut s = format!(
            "{:>w$}  {:>9} {:>9} {:>9} {:>9}\n\n",
            "", "precision", "recall", "f1-score", "support"
        );
        let row = |c: &ClassScores| {
            format!(
                "{:>w$}  {:>9.2} {:>9.2} {:>9.2} {:>9}\n",
                c.class, c.precision, c.recall, c.f1, c.support
            )
        };
        for c in &self.per_class {
            s += &row(c);
        }
        let n = self.macro_avg.support;
        s += &format!(
            "\n{:>w$}  {:>9} {:>9} {:>9.2} {:>9}\n",
            "accuracy", "", "", self.accuracy, n
        );
        s += &row(&self.macro_avg);
        s += &row(&self.weighted_avg);
        s += &format!(
            "\nmean class accuracy {:.4}\n\nconfusion matrix (rows: true, columns: predicted)\n",
            self.mean_class_accuracy
        );
        let cw = self
            .confusion_matrix
            .iter()
            .flatten()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(1)
            .max(2);
        s += &format!("{:>w$} ", "");
        for j in 0..self.classes.len() {
            s += &format!(" {:>cw$}", j);
        }
        s += "\n";
        for (i, r) in self.confusion_matrix.iter().enumerate() {
            s += &format!("{:>w$} ", label(i));
            for &v in r {
                if v == 0 {
                    s += &format!(" {:>cw$}", ".");
                } else {
                    s += &format!(" {v:>cw$}");
                }
            }
            s += "\n";
        }
        s
    }

    /// The per-class table and confusion matrix in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| class | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n",
        );
        for c in self
            .per_class
            .iter()
            .chain([&self.macro_avg, &self.weighted_avg])
        {
            s += &format!(
                "| {} | {:.3} | {:.3} | {:.3} | {} |\n",
                md_text(&c.class),
                c.precision,
                c.recall,
                c.f1,
                c.support
            );
        }
        s += "\nConfusion matrix (rows: true class, columns: predicted):\n\n| |";
        for c in &self.classes {
            s += &format!(" {} |", md_text(c));
        }
        s += "\n|---|";
        s += &"---:|".repeat(self.classes.len());
        s += "\n";
        for (i, r) in self.confusion_matrix.iter().enumerate() {
            s += &format!("| **{}** |", md_text(&self.classes[i]));
            for v in r {
                s += &format!(" {v} |");
            }
            s += "\n";
        }
        s
    }
}

/// A trained model's report for people (`report.md`).
pub fn report_markdown(r: &Report) -> String {
    let mut head = Table::new(&[
        ("test accuracy", Align::Right),
        ("mean class accuracy", Align::Right),
        ("macro F1", Align::Right),
        ("test meshes", Align::Right),
        ("parameters", Align::Right),
        ("training", Align::Right),
        ("backend", Align::Left),
    ]);
    head.row(vec![
        format!("{:.4}", r.metrics.accuracy),
        format!("{:.4}", r.metrics.mean_class_accuracy),
        format!("{:.4}", r.metrics.macro_avg.f1),
        r.test_size.to_string(),
        r.parameters.to_string(),
        format!(
            "{:.2} s, {} epochs (best {}), {:.0} samples/s",
            r.train_seconds, r.epochs_run, r.best_epoch, r.samples_per_second
        ),
        r.backend.clone(),
    ]);
    let mis = if r.misclassified.is_empty() {
        "None.".to_string()
    } else {
        r.misclassified
            .iter()
            .map(|[p, t, q]| format!("- {}: {} taken for {}", md_code(p), md_text(t), md_text(q)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let spread = match &r.spread {
        Some(s) => format!(
            "Over {} seeds ({}): test accuracy {}, mean class accuracy {}, macro F1 {}. This folder holds seed {}'s model, reported below.\n\n",
            s.runs,
            r.repeats
                .iter()
                .map(|x| x.seed.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            s.accuracy,
            s.mean_class_accuracy,
            s.macro_f1,
            r.seed
        ),
        None => String::new(),
    };
    // Meshes the model could not read (a CNN's missing or corrupt views): training and the
    // scores leave them out, so a reader must see which.
    let skipped = if r.skipped.is_empty() {
        String::new()
    } else {
        format!(
            "\n## Meshes left out\n\n{} mesh(es) whose inputs could not be read are left out of training and of the scores above:\n\n{}\n",
            r.skipped.len(),
            r.skipped
                .iter()
                .map(|f| format!("- {}: {}", md_code(&f.path), md_text(&f.error)))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    format!(
        "# {model} on {features}\n\n{spread}{head}\n\
         ![confusion matrix](confusion.png)\n\n![training curves](curves.png)\n\n## Per class\n\n{table}\n\
         ## Misclassified test meshes\n\n{mis}\n{skipped}",
        model = md_text(&r.model),
        features = md_text(&r.features),
        head = head.markdown(),
        table = r.metrics.to_markdown(),
    )
}

/// One line of a comparison.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ComparisonRow {
    /// Model folder name.
    pub name: String,
    /// Model kind.
    pub model: String,
    /// Test accuracy.
    pub accuracy: f64,
    /// Mean per-class recall.
    pub mean_class_accuracy: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Trainable parameters.
    pub parameters: usize,
    /// Backend that trained it.
    pub backend: String,
    /// Test meshes.
    pub test_size: usize,
    /// Spread over seeds, for a model trained with `--repeats`.
    #[serde(default)]
    pub spread: Option<super::Spread>,
}

/// The comparison of models as one table; `text` and `markdown` render it.
pub fn comparison_table(rows: &[ComparisonRow]) -> Table {
    let mut t = Table::new(&[
        ("model", Align::Left),
        ("test accuracy", Align::Right),
        ("mean class accuracy", Align::Right),
        ("macro F1", Align::Right),
        ("training s", Align::Right),
        ("parameters", Align::Right),
        ("test meshes", Align::Right),
        ("backend", Align::Left),
    ]);
    for r in rows {
        // With repeats, each score is its mean ± standard deviation over the seeds.
        let score = |v: f64, f: fn(&super::Spread) -> super::MeanStd| match &r.spread {
            Some(s) => format!("{} (n={})", f(s), s.runs),
            None => format!("{v:.4}"),
        };
        t.row(vec![
            r.name.clone(),
            score(r.accuracy, |s| s.accuracy),
            score(r.mean_class_accuracy, |s| s.mean_class_accuracy),
            score(r.macro_f1, |s| s.macro_f1),
            format!("{:.2}", r.train_seconds),
            r.parameters.to_string(),
            r.test_size.to_string(),
            r.backend.clone(),
        ]);
    }
    t
}

/// The comparison as a terminal table.
pub fn comparison_text(rows: &[ComparisonRow]) -> String {
    comparison_table(rows).text()
}

/// `comparison.md`.
pub fn comparison_markdown(rows: &[ComparisonRow]) -> String {
    format!(
        "# Hand-engineered descriptors against learned features\n\n{}\n![comparison](comparison.png)\n",
        comparison_table(rows).markdown()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_two_renderings() {
        let mut t = Table::new(&[
            ("name", Align::Left),
            ("acc", Align::Right),
            ("note", Align::Left),
        ]);
        t.row(vec!["logistic".into(), "0.9".into(), "a|b".into()]);
        t.row(vec!["cnn".into(), "1.0000".into()]);
        assert_eq!(
            t.text(),
            "name         acc  note\nlogistic     0.9  a|b\ncnn       1.0000\n"
        );
        assert_eq!(
            t.markdown(),
            "| name | acc | note |\n|---|---:|---|\n| logistic | 0.9 | a\\|b |\n| cnn | 1.0000 |  |\n"
        );
    }

    /// Issue #23: class names went into report.md as they were.
    #[test]
    fn markdown_shows_names_as_they_are() {
        assert_eq!(md_text("mug"), "mug");
        assert_eq!(md_text("a|b"), "a\\|b");
        assert_eq!(md_text("<script>x</script>"), "\\<script\\>x\\</script\\>");
        assert_eq!(md_text("two\nlines"), "two\\\\nlines");
        assert_eq!(md_text("**bold** &amp;"), "\\*\\*bold\\*\\* \\&amp;");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`x"), "`` `x ``");
        assert_eq!(md_code("p\n"), "`p\\n`");
    }
}
