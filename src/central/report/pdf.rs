//! A small hand-written PDF writer for printable Vietnamese reports (the
//! incident notification report, drill after-action reports).
//!
//! Why hand-written: the reports must print offline on a locked-down
//! central, with full Vietnamese diacritics, and the layout needed is
//! modest. This module, over `ttf-parser` (font metrics and `cmap`) and
//! `flate2` (compression), does that without pulling a PDF or layout
//! framework into the build, and its output is easy to check (see the
//! tests: xref offsets, page count, text extracted by `pdftotext`).
//!
//! What it supports:
//! - A4 portrait pages, 20 mm margins, a header line and a rule at the top of
//!   every page, a footer with a left text and `page/total` on the right.
//! - Blocks ([`Block`]): a centred bold title, headings (kept with the next
//!   line), wrapped paragraphs, label–value rows, ruled tables whose header
//!   row repeats after a page break, and vertical space.
//! - Line wrapping by the fonts' real advance widths, at spaces; a word wider
//!   than its column is broken between characters. A `'\n'` in a text starts
//!   a new line; other control characters are dropped. Page breaks are
//!   automatic, and a table row or label–value row taller than a page is
//!   split across pages.
//! - DejaVu Sans (regular and bold, embedded with `include_bytes!`) as
//!   Type0/CIDFontType2 fonts with Identity-H encoding, a `/W` widths array
//!   and a `/ToUnicode` CMap, so the text can be searched and copied. Each
//!   font is subset: glyph ids stay as they are, and the `glyf`/`loca`
//!   tables keep only the glyphs used plus the components of composite
//!   glyphs (most Vietnamese letters are composites).
//! - Decomposed input (a base letter followed by combining marks, as some
//!   keyboards and file names produce) is composed into the precomposed
//!   Vietnamese letters before layout, so marks never stack on each other.
//! - Characters the font lacks are drawn as `?`.
//!
//! Not supported: kerning, ligatures, complex scripts, right-to-left text,
//! images, links. Output is deterministic: the same document gives the same
//! bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use ttf_parser::{Face, RawFace, Tag};

/// DejaVu Sans 2.37 (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`).
static REGULAR_TTF: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold 2.37, same licence.
static BOLD_TTF: &[u8] = include_bytes!("fonts/DejaVuSans-Bold.ttf");

/// One block of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A title line, large and bold.
    Title(String),
    /// A section heading.
    Heading(String),
    /// A paragraph, wrapped.
    Paragraph(String),
    /// Label–value rows (label column ~35% width, both wrapped).
    Fields(Vec<(String, String)>),
    /// A table: header row then rows; columns share the width equally unless
    /// widths (fractions summing ~1.0) are given.
    Table {
        /// The header cells, drawn bold on grey and repeated on each page
        /// the table continues on. Empty for a table without a header.
        header: Vec<String>,
        /// The body rows; a row may have fewer cells than the table has
        /// columns (the rest are left empty).
        rows: Vec<Vec<String>>,
        /// Column widths as fractions of the text width; ignored unless
        /// there is one positive finite value per column. They are
        /// normalised, so they need not sum to exactly 1.0.
        widths: Option<Vec<f32>>,
    },
    /// Vertical space in points.
    Space(f32),
}

/// A document to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The PDF `/Title` metadata (shown as the viewer's window title).
    pub title: String,
    /// The line of text at the top of every page.
    pub header: String,
    /// The left footer text on every page; the page number `x/y` is on the
    /// right.
    pub footer: String,
    /// The content, in order.
    pub blocks: Vec<Block>,
}

/// Renders `doc` as PDF bytes. Never panics on any text (control characters
/// are dropped; characters the font lacks render as the font's .notdef or
/// '?').
pub fn render(doc: &Document) -> Vec<u8> {
    render_with_fonts(doc, REGULAR_TTF, BOLD_TTF)
}

// ---------------------------------------------------------------------------
// Page geometry and styles (PDF points, origin bottom left).

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
/// 20 mm.
const MARGIN: f32 = 56.69;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
const HEADER_BASELINE: f32 = PAGE_H - MARGIN - 7.0;
const HEADER_RULE: f32 = PAGE_H - MARGIN - 11.0;
const CONTENT_TOP: f32 = PAGE_H - MARGIN - 22.0;
const CONTENT_BOTTOM: f32 = MARGIN + 20.0;
const FOOTER_RULE: f32 = MARGIN + 11.0;
const FOOTER_BASELINE: f32 = MARGIN;
const CONTENT_H: f32 = CONTENT_TOP - CONTENT_BOTTOM;

/// Ascender and descender of DejaVu Sans as fractions of the em, used to
/// place a baseline inside its line box.
const ASCENT: f32 = 0.928;
const DESCENT: f32 = 0.236;

const REGULAR: usize = 0;
const BOLD: usize = 1;

#[derive(Debug, Clone, Copy)]
struct Style {
    font: usize,
    size: f32,
    leading: f32,
}

impl Style {
    const fn new(font: usize, size: f32, leading: f32) -> Self {
        Style {
            font,
            size,
            leading,
        }
    }

    fn line_height(self) -> f32 {
        self.size * self.leading
    }

    /// Distance from the top of a line box down to the baseline.
    fn baseline_offset(self) -> f32 {
        (self.line_height() - (ASCENT + DESCENT) * self.size) / 2.0 + ASCENT * self.size
    }
}

const TITLE: Style = Style::new(BOLD, 16.0, 1.35);
const HEADING: Style = Style::new(BOLD, 12.5, 1.4);
const BODY: Style = Style::new(REGULAR, 10.5, 1.4);
const LABEL: Style = Style::new(BOLD, 10.5, 1.4);
const CELL_HEAD: Style = Style::new(BOLD, 9.5, 1.35);
const CELL: Style = Style::new(REGULAR, 9.5, 1.35);
const MARGINALIA: Style = Style::new(REGULAR, 8.5, 1.3);

const LABEL_FRACTION: f32 = 0.35;
const LABEL_GAP: f32 = 8.0;
const CELL_PAD: f32 = 3.5;
const PARAGRAPH_AFTER: f32 = 6.0;

// ---------------------------------------------------------------------------
// Rendering.

fn render_with_fonts(doc: &Document, regular: &[u8], bold: &[u8]) -> Vec<u8> {
    let fonts = [
        Font::load(regular, "DejaVuSans", false),
        Font::load(bold, "DejaVuSans-Bold", true),
    ];
    let mut layout = Layout {
        fonts,
        pages: Vec::new(),
        current: String::new(),
        y: CONTENT_TOP,
    };
    for block in &doc.blocks {
        layout.block(block);
    }
    let Layout {
        mut fonts,
        mut pages,
        current,
        ..
    } = layout;
    // A page break that nothing followed leaves no blank last page.
    if pages.is_empty() || !current.is_empty() {
        pages.push(current);
    }
    let total = pages.len();
    let header = single_line(&doc.header);
    let footer = single_line(&doc.footer);
    let pages: Vec<String> = pages
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut ops = marginalia(&mut fonts, &header, &footer, i + 1, total);
            ops.push_str(&body);
            ops
        })
        .collect();
    assemble(&doc.title, &pages, &mut fonts)
}

/// The header and footer of one page.
fn marginalia(
    fonts: &mut [Font; 2],
    header: &[char],
    footer: &[char],
    page: usize,
    total: usize,
) -> String {
    let style = MARGINALIA;
    let font = &mut fonts[style.font];
    let mut ops = String::from("q 0.35 g 0.5 G 0.5 w\n");
    let header = font.fit(header, style.size, TEXT_W);
    draw_text(&mut ops, font, style, MARGIN, HEADER_BASELINE, &header);
    let number: Vec<char> = format!("{page}/{total}").chars().collect();
    let number_w = font.width(&number, style.size);
    draw_text(
        &mut ops,
        font,
        style,
        MARGIN + TEXT_W - number_w,
        FOOTER_BASELINE,
        &number,
    );
    let footer = font.fit(footer, style.size, TEXT_W - number_w - 12.0);
    draw_text(&mut ops, font, style, MARGIN, FOOTER_BASELINE, &footer);
    for y in [HEADER_RULE, FOOTER_RULE] {
        let _ = writeln!(
            ops,
            "{} {} m {} {} l S",
            num(MARGIN),
            num(y),
            num(MARGIN + TEXT_W),
            num(y)
        );
    }
    ops.push_str("Q\n");
    ops
}

/// Appends the operators that show `text` with its baseline at `(x, y)`.
fn draw_text(ops: &mut String, font: &mut Font, style: Style, x: f32, y: f32, text: &[char]) {
    if text.iter().all(|&c| c == ' ') {
        return;
    }
    let hex = font.encode(text);
    let _ = writeln!(
        ops,
        "BT /F{} {} Tf {} {} Td <{}> Tj ET",
        style.font + 1,
        num(style.size),
        num(x),
        num(y),
        hex
    );
}

/// Lays blocks out into page content streams.
struct Layout<'a> {
    fonts: [Font<'a>; 2],
    /// Finished pages' content (without header and footer).
    pages: Vec<String>,
    /// The page being filled.
    current: String,
    /// Top of the next line box.
    y: f32,
}

impl Layout<'_> {
    fn new_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.current));
        self.y = CONTENT_TOP;
    }

    fn at_top(&self) -> bool {
        self.y >= CONTENT_TOP - 0.01
    }

    /// Starts a new page unless `height` still fits on this one (or this
    /// page is still empty, where nothing would be gained).
    fn ensure(&mut self, height: f32) {
        if self.y - height < CONTENT_BOTTOM - 0.01 && !self.at_top() {
            self.new_page();
        }
    }

    /// Vertical gap that never spills onto a new page.
    fn gap(&mut self, height: f32) {
        if !self.at_top() {
            self.y = (self.y - height).max(CONTENT_BOTTOM);
        }
    }

    fn wrap(&mut self, style: Style, text: &str, width: f32) -> Vec<Vec<char>> {
        wrap(&mut self.fonts[style.font], style.size, &clean(text), width)
    }

    /// Draws one line at the current position and moves down.
    fn line(&mut self, style: Style, x: f32, text: &[char]) {
        self.ensure(style.line_height());
        let baseline = self.y - style.baseline_offset();
        draw_text(
            &mut self.current,
            &mut self.fonts[style.font],
            style,
            x,
            baseline,
            text,
        );
        self.y -= style.line_height();
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Title(text) => {
                for line in self.wrap(TITLE, text, TEXT_W) {
                    let w = self.fonts[TITLE.font].width(&line, TITLE.size);
                    self.line(TITLE, MARGIN + (TEXT_W - w).max(0.0) / 2.0, &line);
                }
                self.gap(8.0);
            }
            Block::Heading(text) => {
                self.gap(6.0);
                let lines = self.wrap(HEADING, text, TEXT_W);
                // Keep the heading with the first line of what follows.
                let needed = lines.len() as f32 * HEADING.line_height() + BODY.line_height();
                if needed <= CONTENT_H {
                    self.ensure(needed);
                }
                for line in lines {
                    self.line(HEADING, MARGIN, &line);
                }
                self.gap(3.0);
            }
            Block::Paragraph(text) => {
                for line in self.wrap(BODY, text, TEXT_W) {
                    self.line(BODY, MARGIN, &line);
                }
                self.gap(PARAGRAPH_AFTER);
            }
            Block::Fields(rows) => {
                for (label, value) in rows {
                    self.field(label, value);
                }
                self.gap(PARAGRAPH_AFTER);
            }
            Block::Table {
                header,
                rows,
                widths,
            } => {
                self.table(header, rows, widths.as_deref());
                self.gap(PARAGRAPH_AFTER + 2.0);
            }
            Block::Space(points) => {
                // Space that does not fit ends the page (and is not
                // carried over to the next one).
                if points.is_finite() && *points > 0.0 && !self.at_top() {
                    if self.y - points < CONTENT_BOTTOM {
                        self.new_page();
                    } else {
                        self.y -= points;
                    }
                }
            }
        }
    }

    fn field(&mut self, label: &str, value: &str) {
        let label_w = TEXT_W * LABEL_FRACTION;
        let labels = self.wrap(LABEL, label, label_w - LABEL_GAP);
        let values = self.wrap(BODY, value, TEXT_W - label_w);
        let n = labels.len().max(values.len());
        let lh = BODY.line_height();
        let height = n as f32 * lh;
        if height <= CONTENT_H {
            self.ensure(height);
        }
        for i in 0..n {
            self.ensure(lh);
            let baseline = self.y - BODY.baseline_offset();
            if let Some(line) = labels.get(i) {
                let font = &mut self.fonts[LABEL.font];
                draw_text(&mut self.current, font, LABEL, MARGIN, baseline, line);
            }
            if let Some(line) = values.get(i) {
                let font = &mut self.fonts[BODY.font];
                let x = MARGIN + label_w;
                draw_text(&mut self.current, font, BODY, x, baseline, line);
            }
            self.y -= lh;
        }
        self.gap(2.0);
    }

    fn table(&mut self, header: &[String], rows: &[Vec<String>], widths: Option<&[f32]>) {
        let columns = rows.iter().map(Vec::len).fold(header.len(), usize::max);
        if columns == 0 {
            return;
        }
        let fractions = match widths {
            Some(w) if w.len() == columns && w.iter().all(|f| f.is_finite() && *f > 0.0) => {
                let sum: f32 = w.iter().sum();
                w.iter().map(|f| f / sum).collect()
            }
            _ => vec![1.0 / columns as f32; columns],
        };
        let cols: Vec<(f32, f32)> = fractions
            .iter()
            .scan(MARGIN, |x, f| {
                let w = f * TEXT_W;
                let col = (*x, w);
                *x += w;
                Some(col)
            })
            .collect();
        let wrap_row = |layout: &mut Self, style: Style, cells: &[String]| -> Vec<Vec<Vec<char>>> {
            cols.iter()
                .enumerate()
                .map(|(i, &(_, w))| {
                    let text = cells.get(i).map_or("", String::as_str);
                    layout.wrap(style, text, (w - 2.0 * CELL_PAD).max(1.0))
                })
                .collect()
        };
        let head = if header.is_empty() {
            None
        } else {
            Some(wrap_row(self, CELL_HEAD, header))
        };
        // A header taller than half a page is not repeated: every page
        // must leave room for at least one body line.
        let repeat = head
            .as_ref()
            .filter(|h| row_height(h, CELL_HEAD) <= CONTENT_H / 2.0);
        if let Some(head) = &head {
            // Keep the header with the first body line.
            let needed = row_height(head, CELL_HEAD) + CELL.line_height() + 2.0 * CELL_PAD;
            if needed <= CONTENT_H {
                self.ensure(needed);
            }
            self.row(head, &cols, CELL_HEAD, true, None);
        }
        for row in rows {
            let cells = wrap_row(self, CELL, row);
            self.row(&cells, &cols, CELL, false, repeat);
        }
    }

    /// Draws one table row, split over pages if it is taller than the space
    /// left; `repeat` is the header row drawn first on each new page.
    fn row(
        &mut self,
        cells: &[Vec<Vec<char>>],
        cols: &[(f32, f32)],
        style: Style,
        shaded: bool,
        repeat: Option<&Vec<Vec<Vec<char>>>>,
    ) {
        let lines = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let lh = style.line_height();
        let full = row_height(cells, style);
        let header_h = repeat.map_or(0.0, |h| row_height(h, CELL_HEAD));
        if self.y - full < CONTENT_BOTTOM && full <= CONTENT_H - header_h && !self.at_top() {
            self.table_page_break(cols, repeat);
        }
        let mut start = 0;
        let mut breaks = 0;
        while start < lines {
            let room = ((self.y - CONTENT_BOTTOM - 2.0 * CELL_PAD) / lh + 0.001).floor();
            if room < 1.0 {
                // Cannot happen with the page and header sizes used, but
                // never loop: give up on the row instead.
                if self.at_top() || breaks > 1 {
                    return;
                }
                breaks += 1;
                self.table_page_break(cols, repeat);
                continue;
            }
            breaks = 0;
            let take = (room as usize).min(lines - start);
            let height = take as f32 * lh + 2.0 * CELL_PAD;
            let bottom = self.y - height;
            for (cell, &(x, w)) in cells.iter().zip(cols) {
                if shaded {
                    let _ = writeln!(
                        self.current,
                        "0.88 g {} {} {} {} re f 0 g",
                        num(x),
                        num(bottom),
                        num(w),
                        num(height)
                    );
                }
                let _ = writeln!(
                    self.current,
                    "0.5 w 0.3 G {} {} {} {} re S",
                    num(x),
                    num(bottom),
                    num(w),
                    num(height)
                );
                for (i, line) in cell.iter().skip(start).take(take).enumerate() {
                    let baseline = self.y - CELL_PAD - i as f32 * lh - style.baseline_offset();
                    let font = &mut self.fonts[style.font];
                    draw_text(&mut self.current, font, style, x + CELL_PAD, baseline, line);
                }
            }
            self.y = bottom;
            start += take;
        }
    }

    fn table_page_break(&mut self, cols: &[(f32, f32)], repeat: Option<&Vec<Vec<Vec<char>>>>) {
        self.new_page();
        if let Some(head) = repeat {
            self.row(head, cols, CELL_HEAD, true, None);
        }
    }
}

fn row_height(cells: &[Vec<Vec<char>>], style: Style) -> f32 {
    let lines = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
    lines as f32 * style.line_height() + 2.0 * CELL_PAD
}

/// Breaks `text` (already [`clean`]ed) into lines no wider than `max_w`.
/// Every `'\n'` ends a line; an empty text gives one empty line.
fn wrap(font: &mut Font, size: f32, text: &[char], max_w: f32) -> Vec<Vec<char>> {
    let space_w = font.width(&[' '], size);
    let mut lines = Vec::new();
    for paragraph in text.split(|&c| c == '\n') {
        let mut line: Vec<char> = Vec::new();
        let mut line_w = 0.0;
        for word in paragraph.split(|&c| c == ' ').filter(|w| !w.is_empty()) {
            let word_w = font.width(word, size);
            if !line.is_empty() {
                if line_w + space_w + word_w <= max_w {
                    line.push(' ');
                    line.extend_from_slice(word);
                    line_w += space_w + word_w;
                    continue;
                }
                lines.push(std::mem::take(&mut line));
                line_w = 0.0;
            }
            if word_w <= max_w {
                line.extend_from_slice(word);
                line_w = word_w;
                continue;
            }
            // A word wider than the column: break it between characters,
            // never before a combining mark.
            for &c in word {
                let w = font.width(&[c], size);
                if !line.is_empty() && line_w + w > max_w && !is_combining(c) {
                    lines.push(std::mem::take(&mut line));
                    line_w = 0.0;
                }
                line.push(c);
                line_w += w;
            }
        }
        lines.push(line);
    }
    lines
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}')
}

/// `text` as one line: line breaks become spaces.
fn single_line(text: &str) -> Vec<char> {
    clean(text)
        .into_iter()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect()
}

/// Normalises text for layout: line breaks become `'\n'`, other whitespace
/// a space (no-break spaces stay), control and invisible format characters
/// are dropped, and base letters followed by Vietnamese combining marks are
/// composed into precomposed letters.
fn clean(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let c = match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                '\n'
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => '\n',
            '\u{a0}' | '\u{2007}' | '\u{202f}' => '\u{a0}',
            '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}' => continue,
            c if c.is_whitespace() => ' ',
            c if c.is_control() => continue,
            c => c,
        };
        if let Some(last) = out.last_mut()
            && let Some(composed) = compose(*last, c)
        {
            *last = composed;
            continue;
        }
        out.push(c);
    }
    out
}

/// Canonical compositions for the combining marks Vietnamese uses: for each
/// mark, pairs of (letter, letter with the mark). Includes the letters that
/// already carry a dot below or a tone, so that either order of marks in
/// decomposed input composes.
const COMPOSITIONS: [(char, &str); 8] = [
    (
        '\u{300}',
        "AÀEÈIÌOÒUÙYỲaàeèiìoòuùyỳÂẦÊỀÔỒâầêềôồĂẰăằƠỜơờƯỪưừ",
    ),
    (
        '\u{301}',
        "AÁEÉIÍOÓUÚYÝaáeéiíoóuúyýÂẤÊẾÔỐÕṌâấêếôốõṍĂẮăắŨṸũṹƠỚơớƯỨưứ",
    ),
    (
        '\u{303}',
        "AÃEẼIĨOÕUŨYỸaãeẽiĩoõuũyỹÂẪÊỄÔỖâẫêễôỗĂẴăẵƠỠơỡƯỮưữ",
    ),
    (
        '\u{309}',
        "AẢEẺIỈOỎUỦYỶaảeẻiỉoỏuủyỷÂẨÊỂÔỔâẩêểôổĂẲăẳƠỞơởƯỬưử",
    ),
    (
        '\u{323}',
        "AẠEẸIỊOỌUỤYỴaạeẹiịoọuụyỵÂẬÊỆÔỘâậêệôộĂẶăặƠỢơợƯỰưự",
    ),
    ('\u{302}', "AÂEÊIÎOÔUÛYŶaâeêiîoôuûyŷẠẬạậẸỆẹệỌỘọộ"),
    ('\u{306}', "AĂEĔIĬOŎUŬaăeĕiĭoŏuŭẠẶạặ"),
    (
        '\u{31b}',
        "OƠUƯoơuưÒỜÓỚÕỠÙỪÚỨòờóớõỡùừúứŨỮũữỌỢọợỎỞỏởỤỰụựỦỬủử",
    ),
];

fn compose(base: char, mark: char) -> Option<char> {
    let (_, pairs) = COMPOSITIONS.iter().find(|(m, _)| *m == mark)?;
    let mut chars = pairs.chars();
    while let (Some(from), Some(to)) = (chars.next(), chars.next()) {
        if from == base {
            return Some(to);
        }
    }
    None
}

/// Formats a coordinate for a content stream: at most two decimals, never
/// an exponent or NaN.
fn num(v: f32) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".to_string()
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------
// Fonts.

/// A glyph as drawn: its code in the content stream, its advance width in
/// thousandths of an em, and the character it stands for.
#[derive(Debug, Clone, Copy)]
struct Glyph {
    code: u16,
    width: f32,
    unicode: char,
}

enum Source<'a> {
    /// An embedded TrueType font; codes are glyph ids.
    TrueType {
        face: Box<Face<'a>>,
        data: &'a [u8],
        units_per_em: f32,
        ps_name: &'static str,
    },
    /// The standard Courier (fallback if the embedded font cannot be
    /// parsed); codes are WinAnsi bytes, every glyph is 600 wide.
    Courier { bold: bool },
}

struct Font<'a> {
    source: Source<'a>,
    cache: HashMap<char, Glyph>,
    /// Codes drawn so far, for the subset, `/W` and `/ToUnicode`.
    used: BTreeMap<u16, Glyph>,
}

impl<'a> Font<'a> {
    fn load(data: &'a [u8], ps_name: &'static str, bold: bool) -> Self {
        let source = match Face::parse(data, 0) {
            Ok(face) if face.units_per_em() > 0 => Source::TrueType {
                units_per_em: f32::from(face.units_per_em()),
                face: Box::new(face),
                data,
                ps_name,
            },
            _ => Source::Courier { bold },
        };
        Font {
            source,
            cache: HashMap::new(),
            used: BTreeMap::new(),
        }
    }

    fn glyph(&mut self, c: char) -> Glyph {
        if let Some(g) = self.cache.get(&c) {
            return *g;
        }
        let g = match &self.source {
            Source::TrueType {
                face, units_per_em, ..
            } => {
                let lookup = |c: char| {
                    face.glyph_index(c).map(|id| Glyph {
                        code: id.0,
                        width: f32::from(face.glyph_hor_advance(id).unwrap_or(0)) * 1000.0
                            / units_per_em,
                        unicode: c,
                    })
                };
                lookup(c).or_else(|| lookup('?')).unwrap_or(Glyph {
                    code: 0,
                    width: 0.0,
                    unicode: c,
                })
            }
            Source::Courier { .. } => {
                let (code, unicode) = winansi(c).map_or((b'?', '?'), |b| (b, c));
                Glyph {
                    code: u16::from(code),
                    width: 600.0,
                    unicode,
                }
            }
        };
        self.cache.insert(c, g);
        g
    }

    /// Width of `text` at `size` points, in points.
    fn width(&mut self, text: &[char], size: f32) -> f32 {
        text.iter().map(|&c| self.glyph(c).width).sum::<f32>() * size / 1000.0
    }

    /// `text` shortened with an ellipsis to fit `max_w`.
    fn fit(&mut self, text: &[char], size: f32, max_w: f32) -> Vec<char> {
        if self.width(text, size) <= max_w {
            return text.to_vec();
        }
        let budget = max_w - self.width(&['…'], size);
        let mut out = Vec::new();
        let mut w = 0.0;
        for &c in text {
            w += self.width(&[c], size);
            if w > budget {
                break;
            }
            out.push(c);
        }
        out.push('…');
        out
    }

    /// The hex string that shows `text`, recording the glyphs used.
    fn encode(&mut self, text: &[char]) -> String {
        let mut hex = String::with_capacity(text.len() * 4);
        for &c in text {
            let g = self.glyph(c);
            self.used.entry(g.code).or_insert(g);
            match self.source {
                Source::TrueType { .. } => {
                    let _ = write!(hex, "{:04X}", g.code);
                }
                Source::Courier { .. } => {
                    let _ = write!(hex, "{:02X}", g.code);
                }
            }
        }
        hex
    }
}

/// The WinAnsiEncoding byte for `c`, for the Courier fallback.
fn winansi(c: char) -> Option<u8> {
    match c {
        ' '..='~' => u8::try_from(c).ok(),
        '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).ok(),
        '€' => Some(0x80),
        '…' => Some(0x85),
        '‘' => Some(0x91),
        '’' => Some(0x92),
        '“' => Some(0x93),
        '”' => Some(0x94),
        '•' => Some(0x95),
        '–' => Some(0x96),
        '—' => Some(0x97),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// TrueType subsetting.

fn read_u16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        data.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The glyph ids a composite glyph is built from (none for a simple one).
fn components(glyph: &[u8]) -> Vec<u16> {
    const ARGS_ARE_WORDS: u16 = 0x0001;
    const HAVE_SCALE: u16 = 0x0008;
    const MORE_COMPONENTS: u16 = 0x0020;
    const HAVE_XY_SCALE: u16 = 0x0040;
    const HAVE_2X2: u16 = 0x0080;
    let mut out = Vec::new();
    // numberOfContours < 0 marks a composite.
    if read_u16(glyph, 0).is_none_or(|n| n & 0x8000 == 0) {
        return out;
    }
    let mut at = 10;
    while let (Some(flags), Some(id)) = (read_u16(glyph, at), read_u16(glyph, at + 2)) {
        out.push(id);
        at += 4 + if flags & ARGS_ARE_WORDS != 0 { 4 } else { 2 };
        at += if flags & HAVE_SCALE != 0 {
            2
        } else if flags & HAVE_XY_SCALE != 0 {
            4
        } else if flags & HAVE_2X2 != 0 {
            8
        } else {
            0
        };
        if flags & MORE_COMPONENTS == 0 {
            break;
        }
    }
    out
}

/// A copy of the TrueType font `data` that keeps every glyph id but only the
/// outlines of `used` (plus .notdef and composite components). Keeps the
/// tables a PDF's FontFile2 needs: head, hhea, maxp, hmtx, loca, glyf, the
/// hinting tables cvt, fpgm, prep, and OS/2 and a name-less post for picky
/// readers; drops cmap (the PDF maps codes to glyph ids itself), name,
/// kern and the OpenType layout tables. `None` if the font is not a
/// `glyf`-flavoured TrueType or is malformed.
fn subset_truetype(data: &[u8], used: &BTreeSet<u16>) -> Option<Vec<u8>> {
    let raw = RawFace::parse(data, 0).ok()?;
    let table = |tag: &[u8; 4]| raw.table(Tag::from_bytes(tag));
    let head = table(b"head")?;
    let hhea = table(b"hhea")?;
    let maxp = table(b"maxp")?;
    let hmtx = table(b"hmtx")?;
    let loca = table(b"loca")?;
    let glyf = table(b"glyf")?;
    let num_glyphs = usize::from(read_u16(maxp, 4)?);
    let long_loca = read_u16(head, 50)? != 0;
    let offset = |id: usize| -> Option<usize> {
        if long_loca {
            usize::try_from(read_u32(loca, id * 4)?).ok()
        } else {
            Some(usize::from(read_u16(loca, id * 2)?) * 2)
        }
    };
    let outline = |id: usize| -> Option<&[u8]> { glyf.get(offset(id)?..offset(id + 1)?) };

    let mut keep = BTreeSet::new();
    let mut todo: Vec<u16> = used.iter().copied().chain([0]).collect();
    while let Some(id) = todo.pop() {
        if usize::from(id) < num_glyphs && keep.insert(id) {
            todo.extend(outline(usize::from(id)).map(components).unwrap_or_default());
        }
    }

    let mut new_glyf = Vec::new();
    let mut new_loca = Vec::with_capacity((num_glyphs + 1) * 4);
    for id in 0..num_glyphs {
        new_loca.extend_from_slice(&u32::try_from(new_glyf.len()).ok()?.to_be_bytes());
        if keep.contains(&u16::try_from(id).ok()?) {
            new_glyf.extend_from_slice(outline(id)?);
            new_glyf.resize(new_glyf.len().next_multiple_of(4), 0);
        }
    }
    new_loca.extend_from_slice(&u32::try_from(new_glyf.len()).ok()?.to_be_bytes());

    let mut new_head = head.to_vec();
    new_head.get_mut(8..12)?.fill(0); // checkSumAdjustment, set below
    new_head
        .get_mut(50..52)?
        .copy_from_slice(&1u16.to_be_bytes()); // long loca

    // Zero the metrics of dropped glyphs (PDF viewers use /W, and zeros
    // compress well).
    let long_metrics = usize::from(read_u16(hhea, 34)?);
    let mut new_hmtx = hmtx.to_vec();
    for id in 0..num_glyphs {
        if keep.contains(&u16::try_from(id).ok()?) {
            continue;
        }
        let range = if id < long_metrics {
            id * 4..id * 4 + 4
        } else {
            let at = long_metrics * 4 + (id - long_metrics) * 2;
            at..at + 2
        };
        if let Some(bytes) = new_hmtx.get_mut(range) {
            bytes.fill(0);
        }
    }

    let mut tables: Vec<([u8; 4], Vec<u8>)> = vec![
        (*b"glyf", new_glyf),
        (*b"head", new_head),
        (*b"hhea", hhea.to_vec()),
        (*b"hmtx", new_hmtx),
        (*b"loca", new_loca),
        (*b"maxp", maxp.to_vec()),
    ];
    for tag in [b"OS/2", b"cvt ", b"fpgm", b"prep"] {
        if let Some(data) = table(tag) {
            tables.push((*tag, data.to_vec()));
        }
    }
    // `post` without glyph names (format 3): some consumers want the
    // table, none need DejaVu's 30 KB of names.
    if let Some(post) = table(b"post").and_then(|p| p.get(..32)) {
        let mut post = post.to_vec();
        post[..4].copy_from_slice(&0x0003_0000u32.to_be_bytes());
        tables.push((*b"post", post));
    }
    Some(build_sfnt(tables))
}

fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, chunk| {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        sum.wrapping_add(u32::from_be_bytes(word))
    })
}

/// Writes a TrueType file from its tables.
fn build_sfnt(mut tables: Vec<([u8; 4], Vec<u8>)>) -> Vec<u8> {
    tables.sort_by_key(|t| t.0);
    let count = tables.len();
    let mut selector = 0u16;
    while (2usize << selector) <= count {
        selector += 1;
    }
    let range = (1usize << selector) * 16;
    let mut out = Vec::new();
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    for v in [count, range, usize::from(selector), count * 16 - range] {
        out.extend_from_slice(&(v as u16).to_be_bytes());
    }
    let mut offset = 12 + 16 * count;
    let mut head_at = None;
    for (tag, data) in &tables {
        if tag == b"head" {
            head_at = Some(offset);
        }
        out.extend_from_slice(tag);
        out.extend_from_slice(&checksum(data).to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        offset += data.len().next_multiple_of(4);
    }
    for (_, data) in &tables {
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let adjustment = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
    if let Some(slot) = head_at.and_then(|at| out.get_mut(at + 8..at + 12)) {
        slot.copy_from_slice(&adjustment.to_be_bytes());
    }
    out
}

// ---------------------------------------------------------------------------
// PDF objects.

struct Writer {
    out: Vec<u8>,
    /// Byte offset of object `i + 1`.
    offsets: Vec<usize>,
}

impl Writer {
    fn alloc(&mut self) -> usize {
        self.offsets.push(0);
        self.offsets.len()
    }

    fn begin(&mut self, id: usize) {
        if let Some(slot) = self.offsets.get_mut(id.wrapping_sub(1)) {
            *slot = self.out.len();
        }
        let _ = writeln!(self.out, "{id} 0 obj");
    }

    fn object(&mut self, id: usize, body: &str) {
        self.begin(id);
        self.out.extend_from_slice(body.as_bytes());
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// A stream object, Flate-compressed; `extra` goes into its dictionary.
    fn stream(&mut self, id: usize, extra: &str, data: &[u8]) {
        let (data, filter) = match deflate(data) {
            Some(z) => (z, " /Filter /FlateDecode"),
            None => (data.to_vec(), ""),
        };
        self.begin(id);
        let _ = write!(
            self.out,
            "<< /Length {}{filter}{extra} >>\nstream\n",
            data.len()
        );
        self.out.extend_from_slice(&data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }
}

fn deflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(data).ok()?;
    z.finish().ok()
}

/// A PDF text string: UTF-16BE with a byte order mark, in hex.
fn text_string(text: &str) -> String {
    let mut hex = String::from("<FEFF");
    for unit in single_line(text).iter().collect::<String>().encode_utf16() {
        let _ = write!(hex, "{unit:04X}");
    }
    hex.push('>');
    hex
}

/// A six-letter subset tag derived from the glyphs used (FNV-1a).
fn subset_tag(name: &str, used: &BTreeMap<u16, Glyph>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = name
        .bytes()
        .chain(used.keys().flat_map(|k| k.to_be_bytes()));
    for b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6)
        .map(|i| char::from(b'A' + ((hash >> (i * 8)) % 26) as u8))
        .collect()
}

/// Writes the objects of one font and returns the id of its font dictionary.
fn write_font(w: &mut Writer, font: &Font) -> usize {
    let (face, data, units_per_em, ps_name) = match &font.source {
        Source::TrueType {
            face,
            data,
            units_per_em,
            ps_name,
        } => (face, data, units_per_em, ps_name),
        Source::Courier { bold } => {
            let id = w.alloc();
            let name = if *bold { "Courier-Bold" } else { "Courier" };
            w.object(
                id,
                &format!(
                    "<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>"
                ),
            );
            return id;
        }
    };
    let scale = |v: i16| num(f32::from(v) * 1000.0 / units_per_em);
    let [type0, cid, descriptor, file, to_unicode] = [(); 5].map(|()| w.alloc());
    let name = format!("{}+{ps_name}", subset_tag(ps_name, &font.used));

    let used: BTreeSet<u16> = font.used.keys().copied().collect();
    let program = subset_truetype(data, &used).unwrap_or_else(|| data.to_vec());
    w.stream(file, &format!(" /Length1 {}", program.len()), &program);

    let bbox = face.global_bounding_box();
    let bold = ps_name.contains("Bold");
    w.object(
        descriptor,
        &format!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags 32 /FontBBox [{} {} {} {}] \
             /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV {} /FontWeight {} \
             /FontFile2 {file} 0 R >>",
            scale(bbox.x_min),
            scale(bbox.y_min),
            scale(bbox.x_max),
            scale(bbox.y_max),
            scale(face.ascender()),
            scale(face.descender()),
            scale(face.capital_height().unwrap_or(face.ascender())),
            if bold { 140 } else { 80 },
            if bold { 700 } else { 400 },
        ),
    );

    // /W: runs of consecutive glyph ids.
    let mut widths = String::new();
    let mut next = None;
    for (&code, g) in &font.used {
        if next != Some(code) {
            if next.is_some() {
                widths.push_str("] ");
            }
            let _ = write!(widths, "{code} [");
        } else {
            widths.push(' ');
        }
        widths.push_str(&num(g.width));
        next = code.checked_add(1);
    }
    if !font.used.is_empty() {
        widths.push(']');
    }
    w.object(
        cid,
        &format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor {descriptor} 0 R /DW 1000 /W [{widths}] /CIDToGIDMap /Identity >>"
        ),
    );

    w.stream(to_unicode, "", to_unicode_cmap(&font.used).as_bytes());
    w.object(
        type0,
        &format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
             /DescendantFonts [{cid} 0 R] /ToUnicode {to_unicode} 0 R >>"
        ),
    );
    type0
}

fn to_unicode_cmap(used: &BTreeMap<u16, Glyph>) -> String {
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(&u16, &Glyph)> = used.iter().collect();
    for chunk in entries.chunks(100) {
        let _ = writeln!(cmap, "{} beginbfchar", chunk.len());
        for (code, g) in chunk {
            let _ = write!(cmap, "<{code:04X}> <");
            for unit in g.unicode.encode_utf16(&mut [0; 2]) {
                let _ = write!(cmap, "{unit:04X}");
            }
            cmap.push_str(">\n");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap
}

fn assemble(title: &str, pages: &[String], fonts: &mut [Font; 2]) -> Vec<u8> {
    let mut w = Writer {
        out: b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
        offsets: Vec::new(),
    };
    let catalog = w.alloc();
    let page_tree = w.alloc();
    let info = w.alloc();

    let mut resources = String::from("<< /Font <<");
    for (i, font) in fonts.iter().enumerate() {
        if !font.used.is_empty() {
            let id = write_font(&mut w, font);
            let _ = write!(resources, " /F{} {id} 0 R", i + 1);
        }
    }
    resources.push_str(" >> >>");

    let mut kids = Vec::new();
    for content in pages {
        let page = w.alloc();
        let stream = w.alloc();
        w.stream(stream, "", content.as_bytes());
        w.object(
            page,
            &format!(
                "<< /Type /Page /Parent {page_tree} 0 R /MediaBox [0 0 {} {}] \
                 /Resources {resources} /Contents {stream} 0 R >>",
                num(PAGE_W),
                num(PAGE_H)
            ),
        );
        kids.push(format!("{page} 0 R"));
    }
    w.object(
        page_tree,
        &format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            kids.len()
        ),
    );
    w.object(
        catalog,
        &format!(
            "<< /Type /Catalog /Pages {page_tree} 0 R /Lang (vi-VN) \
             /ViewerPreferences << /DisplayDocTitle true >> >>"
        ),
    );
    w.object(
        info,
        &format!(
            "<< /Title {} /Producer (canhgac) /Creator (canhgac) >>",
            text_string(title)
        ),
    );

    let xref = w.out.len();
    let _ = write!(
        w.out,
        "xref\n0 {}\n0000000000 65535 f \n",
        w.offsets.len() + 1
    );
    for offset in &w.offsets {
        let _ = writeln!(w.out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        w.out,
        "trailer\n<< /Size {} /Root {catalog} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        w.offsets.len() + 1
    );
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const TITLE_VI: &str = "Báo cáo sự cố an toàn thông tin mạng";
    const UNIT_VI: &str = "Đơn vị: Xã Mỹ Yên";
    const SENTENCE_VI: &str = "Hệ thống giám sát phát hiện mã độc tống tiền trên máy chủ thư \
                               điện tử của Ủy ban nhân dân xã; bộ phận một cửa đã ngừng tiếp \
                               nhận hồ sơ trực tuyến trong hai giờ.";
    const LOWER: &str = "ă â đ ê ô ơ ư ắ ằ ẳ ẵ ặ ấ ầ ẩ ẫ ậ ế ề ể ễ ệ ố ồ ổ ỗ ộ ớ ờ ở ỡ ợ \
                         ứ ừ ử ữ ự ý ỳ ỷ ỹ ỵ";
    const UPPER: &str = "Ă Â Đ Ê Ô Ơ Ư Ắ Ằ Ẳ Ẵ Ặ Ấ Ầ Ẩ Ẫ Ậ Ế Ề Ể Ễ Ệ Ố Ồ Ổ Ỗ Ộ Ớ Ờ Ở Ỡ Ợ \
                         Ứ Ừ Ử Ữ Ự Ý Ỳ Ỷ Ỹ Ỵ";
    const WORDS_VI: &str = "Ắc quy, Ằm, Ẳng, Ẵm, Ặc; Ế ẩm, Ềnh, Ểnh, Ễnh ương, Ệt; Ốc, \
                            Ồn, Ổn định, Ỗng, Ộp; Ớt, Ờ, Ở, Ỡ, Ợ; Ứng cứu, Ừ, Ử, Ữ, Ực; \
                            Ý kiến, Ỳ, Ỷ lại, Ỹ, Ỵ; quyết định, khuyến nghị, thuở, ngưỡng.";

    fn s(text: &str) -> String {
        text.to_string()
    }

    fn sample() -> Document {
        let long_word = format!("C:\\Temp\\{}.exe", "mã_độc_tống_tiền_".repeat(12));
        let rows = (1..=60)
            .map(|i| {
                vec![
                    format!("08:{:02}", i % 60),
                    s("cảm biến xã Mỹ Yên"),
                    format!("Chặn kết nối đến máy chủ điều khiển, lần thứ {i}."),
                ]
            })
            .collect();
        Document {
            title: s(TITLE_VI),
            header: s("Cảnh Gác — Báo cáo sự cố số SC-2026-0042"),
            footer: s("Tài liệu lưu hành nội bộ"),
            blocks: vec![
                Block::Title(s(TITLE_VI)),
                Block::Paragraph(s(UNIT_VI)),
                Block::Heading(s("1. Thông tin chung")),
                Block::Fields(vec![
                    (s("Người báo cáo"), s("Nguyễn Thị Hường")),
                    (s("Chữ thường"), s(LOWER)),
                    (s("Chữ hoa"), s(UPPER)),
                    (s("Tệp độc hại"), long_word.clone()),
                ]),
                Block::Heading(s("2. Mô tả sự cố")),
                Block::Paragraph(s(SENTENCE_VI)),
                Block::Paragraph(s(WORDS_VI)),
                Block::Paragraph(long_word),
                Block::Space(10.0),
                Block::Heading(s("3. Diễn biến")),
                Block::Table {
                    header: vec![s("Thời gian"), s("Nguồn"), s("Sự kiện")],
                    rows,
                    widths: Some(vec![0.2, 0.3, 0.5]),
                },
                Block::Paragraph(s("Hết báo cáo.")),
            ],
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    /// Checks the file structure and returns the page count.
    fn check_structure(pdf: &[u8]) -> usize {
        assert!(pdf.starts_with(b"%PDF-1."), "header");
        assert!(pdf.ends_with(b"%%EOF\n"), "trailer end");
        let at = pdf
            .windows(10)
            .rposition(|w| w == b"startxref\n")
            .expect("startxref")
            + 10;
        let tail = std::str::from_utf8(&pdf[at..]).unwrap();
        let xref: usize = tail.lines().next().unwrap().parse().unwrap();
        assert!(
            pdf[xref..].starts_with(b"xref\n0 "),
            "startxref points at xref"
        );
        let table = std::str::from_utf8(&pdf[xref..]).unwrap();
        let mut lines = table.lines().skip(1);
        let size: usize = lines.next().unwrap()[2..].parse().unwrap();
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        for id in 1..size {
            let entry = lines.next().unwrap();
            assert_eq!(entry.len(), 19, "xref entry {id}: {entry:?}");
            assert!(entry.ends_with(" 00000 n "));
            let offset: usize = entry[..10].parse().unwrap();
            let expected = format!("{id} 0 obj\n");
            assert!(
                pdf[offset..].starts_with(expected.as_bytes()),
                "xref entry {id} points at {:?}",
                String::from_utf8_lossy(&pdf[offset..offset + 12])
            );
        }
        assert_eq!(lines.next(), Some("trailer"));
        assert!(table.contains(&format!("/Size {size} ")));
        let pages = count(pdf, b"/Type /Page ");
        let tree = format!("/Count {pages} >>");
        assert!(find(pdf, tree.as_bytes()).is_some(), "page tree count");
        pages
    }

    /// Text of the PDF (or of one page) by poppler's `pdftotext`; `None`
    /// when the tool is not installed.
    fn pdftotext(pdf: &[u8], name: &str, page: Option<usize>) -> Option<String> {
        let path = std::env::temp_dir().join(format!(
            "canhgac-pdf-test-{}-{name}.pdf",
            std::process::id()
        ));
        std::fs::write(&path, pdf).unwrap();
        let mut cmd = Command::new("pdftotext");
        cmd.args(["-enc", "UTF-8"]);
        if let Some(p) = page {
            cmd.args(["-f", &p.to_string(), "-l", &p.to_string()]);
        }
        let out = cmd.arg(&path).arg("-").output();
        let _ = std::fs::remove_file(&path);
        let out = out.ok()?;
        assert!(out.status.success(), "pdftotext failed: {out:?}");
        Some(String::from_utf8(out.stdout).unwrap())
    }

    fn squash(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn strip(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn renders_vietnamese_report() {
        let pdf = render(&sample());
        // To look at it: CANHGAC_PDF_SAMPLE=/tmp/sample.pdf cargo test ...
        if let Ok(path) = std::env::var("CANHGAC_PDF_SAMPLE") {
            std::fs::write(path, &pdf).unwrap();
        }
        assert_eq!(check_structure(&pdf), 4);
        assert_eq!(count(&pdf, b"/Subtype /CIDFontType2"), 2);
        assert_eq!(count(&pdf, b"/Encoding /Identity-H"), 2);
        assert_eq!(count(&pdf, b"/ToUnicode"), 2);
        assert!(find(&pdf, b"/FontFile2").is_some());
        // Subset fonts: far smaller than the two 700 KB font files.
        assert!(pdf.len() < 80_000, "size {}", pdf.len());
        // Deterministic.
        assert_eq!(pdf, render(&sample()));

        let Some(text) = pdftotext(&pdf, "report", None) else {
            eprintln!("pdftotext not installed; text extraction not checked");
            return;
        };
        let flat = squash(&text);
        for expected in [TITLE_VI, UNIT_VI, SENTENCE_VI, WORDS_VI, "Nguyễn Thị Hường"] {
            assert!(flat.contains(expected), "{expected:?} not in {flat}");
        }
        // pdftotext joins a run of one-letter words, so compare those
        // without spaces; every letter must come out exactly, in order.
        let bare = strip(&text);
        for expected in [LOWER, UPPER] {
            assert!(
                bare.contains(&strip(expected)),
                "{expected:?} not in {bare}"
            );
        }
        for page in 1..=4 {
            let text = pdftotext(&pdf, "page", Some(page)).unwrap();
            let flat = squash(&text);
            assert!(flat.contains("Cảnh Gác — Báo cáo sự cố số SC-2026-0042"));
            assert!(flat.contains("Tài liệu lưu hành nội bộ"));
            assert!(flat.contains(&format!("{page}/4")), "page number on {page}");
            // The table header is repeated on each page it continues on.
            assert!(flat.contains("Thời gian"), "table header on {page}");
        }
        let last = squash(&pdftotext(&pdf, "page", Some(4)).unwrap());
        assert!(last.contains("lần thứ 60.") && last.contains("Hết báo cáo."));
    }

    #[test]
    fn one_short_document_is_one_page() {
        let doc = Document {
            title: s("Thử"),
            header: s("Đầu trang"),
            footer: s("Chân trang"),
            blocks: vec![Block::Title(s(TITLE_VI)), Block::Paragraph(s(UNIT_VI))],
        };
        let pdf = render(&doc);
        assert_eq!(check_structure(&pdf), 1);
        if let Some(text) = pdftotext(&pdf, "short", None) {
            assert!(squash(&text).contains("1/1"));
        }
    }

    #[test]
    fn decomposed_input_renders_as_precomposed() {
        let doc = |text: &str| Document {
            title: s(text),
            header: s(text),
            footer: s(""),
            blocks: vec![Block::Paragraph(s(text))],
        };
        // NFD in canonical order, marks in the other order, and a base
        // letter that already carries a modifier (as Windows-1258 input).
        let decomposed = "Vie\u{323}\u{302}t Nam, Tie\u{302}\u{301}ng Vie\u{302}\u{323}t, \
                          U\u{31b}\u{301}ng cu\u{31b}\u{301}u, ă\u{300}, Đo\u{31b}n vi\u{323}";
        let composed = "Việt Nam, Tiếng Việt, Ứng cứu, ằ, Đơn vị";
        assert_eq!(clean(decomposed).iter().collect::<String>(), composed);
        assert_eq!(render(&doc(decomposed)), render(&doc(composed)));
    }

    #[test]
    fn subset_keeps_used_glyphs_and_their_components() {
        let face = Face::parse(REGULAR_TTF, 0).unwrap();
        let used: BTreeSet<u16> = "ắỗựĐý"
            .chars()
            .map(|c| face.glyph_index(c).unwrap().0)
            .collect();
        let composite = used.iter().any(|&id| {
            let raw = RawFace::parse(REGULAR_TTF, 0).unwrap();
            let head = raw.table(Tag::from_bytes(b"head")).unwrap();
            let loca = raw.table(Tag::from_bytes(b"loca")).unwrap();
            let glyf = raw.table(Tag::from_bytes(b"glyf")).unwrap();
            let at = |i: usize| {
                if read_u16(head, 50).unwrap() != 0 {
                    read_u32(loca, i * 4).unwrap() as usize
                } else {
                    usize::from(read_u16(loca, i * 2).unwrap()) * 2
                }
            };
            let id = usize::from(id);
            !components(&glyf[at(id)..at(id + 1)]).is_empty()
        });
        assert!(composite, "the test needs a composite glyph");

        let subset = subset_truetype(REGULAR_TTF, &used).unwrap();
        assert!(subset.len() < REGULAR_TTF.len() / 4, "{}", subset.len());
        let small = Face::parse(&subset, 0).unwrap();
        assert_eq!(small.number_of_glyphs(), face.number_of_glyphs());
        assert_eq!(checksum(&subset), 0xB1B0_AFBA, "checkSumAdjustment");
        struct Sink;
        impl ttf_parser::OutlineBuilder for Sink {
            fn move_to(&mut self, _: f32, _: f32) {}
            fn line_to(&mut self, _: f32, _: f32) {}
            fn quad_to(&mut self, _: f32, _: f32, _: f32, _: f32) {}
            fn curve_to(&mut self, _: f32, _: f32, _: f32, _: f32, _: f32, _: f32) {}
            fn close(&mut self) {}
        }
        for &id in &used {
            let id = ttf_parser::GlyphId(id);
            let original = face.outline_glyph(id, &mut Sink);
            assert!(original.is_some());
            assert_eq!(small.outline_glyph(id, &mut Sink), original, "glyph {id:?}");
        }
        let dropped = face.glyph_index('Z').unwrap();
        assert!(small.outline_glyph(dropped, &mut Sink).is_none());
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = s(
            "\u{0}\u{7}tab\there\r\nnew\rline\u{1b}[31m \u{feff}\u{200b}emoji 😀🚨 \
                     lone mark \u{301}\u{323} 中文 עברית \u{10ffff} ",
        );
        let huge = "x".repeat(5000);
        let doc = Document {
            title: odd.clone(),
            header: huge.clone(),
            footer: huge.clone(),
            blocks: vec![
                Block::Title(huge.clone()),
                Block::Heading(String::new()),
                Block::Paragraph(odd.clone()),
                Block::Paragraph(String::new()),
                Block::Fields(vec![
                    (huge.clone(), huge.clone()),
                    (String::new(), odd.clone()),
                ]),
                Block::Table {
                    header: vec![],
                    rows: vec![],
                    widths: None,
                },
                Block::Table {
                    header: vec![odd.clone(), String::new()],
                    rows: vec![vec![], vec![huge.clone(), odd.clone(), s("extra")]],
                    widths: Some(vec![f32::NAN, 0.5, -1.0]),
                },
                Block::Table {
                    header: vec![huge.clone()],
                    rows: vec![vec![huge.clone()]; 3],
                    widths: Some(vec![0.0001]),
                },
                Block::Space(f32::NAN),
                Block::Space(-5.0),
                Block::Space(f32::INFINITY),
                Block::Space(1e9),
            ],
        };
        let pdf = render(&doc);
        assert!(check_structure(&pdf) > 1);
        let empty = Document {
            title: String::new(),
            header: String::new(),
            footer: String::new(),
            blocks: vec![],
        };
        assert_eq!(check_structure(&render(&empty)), 1);
        if let Some(text) = pdftotext(&pdf, "odd", None) {
            // Tab to space, ESC dropped, characters DejaVu lacks as '?'.
            assert!(text.contains("tab here") && text.contains("line[31m"));
            assert!(!text.contains('🚨') && text.contains("??"));
        }
    }

    #[test]
    fn falls_back_to_courier_when_the_font_is_unusable() {
        let pdf = render_with_fonts(&sample(), b"not a font", &[]);
        check_structure(&pdf);
        assert!(find(&pdf, b"/BaseFont /Courier ").is_some());
        assert!(find(&pdf, b"/BaseFont /Courier-Bold ").is_some());
        assert!(find(&pdf, b"/FontFile2").is_none());
    }

    #[test]
    fn wrapping_measures_glyphs_and_breaks_long_words() {
        let mut font = Font::load(REGULAR_TTF, "DejaVuSans", false);
        let text = clean(
            "Ứng cứu sự cố an toàn thông tin mạng cấp tỉnh aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b",
        );
        let lines = wrap(&mut font, 10.0, &text, 100.0);
        assert!(lines.len() > 3);
        for line in &lines {
            assert!(font.width(line, 10.0) <= 100.0 + 0.01, "{line:?}");
            assert_ne!(line.first(), Some(&' '));
        }
        let joined: String = lines
            .iter()
            .map(|l| l.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(joined.replace("a a", "aa"), text.iter().collect::<String>());
        // 'W' is wider than 'i'.
        assert!(font.width(&['W'], 10.0) > 2.0 * font.width(&['i'], 10.0));
        assert_eq!(wrap(&mut font, 10.0, &clean("a\n\nb"), 100.0).len(), 3);
    }

    #[test]
    fn numbers_are_plain() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(56.693), "56.69");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f32::NAN), "0");
        assert_eq!(num(0.5), "0.5");
    }
}
