//! PNG copies of the report's figures, rendered from their SVG by resvg (pure Rust, no browser);
//! text uses the system's fonts (Helvetica, Arial, or whatever sans-serif font is installed).
//! resvg lives in the binary, not the library, so that library users do not build a
//! rasterizer they may not need.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use resvg::{tiny_skia, usvg};

/// Sans-serif families tried in order for the charts' `Helvetica, Arial, sans-serif`.
const SANS: [&str; 6] = [
    "Helvetica",
    "Arial",
    "Liberation Sans",
    "DejaVu Sans",
    "Noto Sans",
    "FreeSans",
];

/// Options with the system's fonts, `sans-serif` mapped to the first installed family of
/// [`SANS`] (fontdb maps it to Arial, which Linux machines rarely have). `None` when no font
/// is installed at all: the figures would have no text.
pub fn options() -> (usvg::Options<'static>, Option<String>) {
    let mut opt = usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    let family = SANS
        .iter()
        .find(|f| {
            opt.fontdb
                .faces()
                .any(|face| face.families.iter().any(|(n, _)| n == *f))
        })
        .map(|f| f.to_string())
        .or_else(|| {
            opt.fontdb
                .faces()
                .next()
                .and_then(|face| face.families.first().map(|(n, _)| n.clone()))
        });
    if let Some(f) = &family {
        opt.fontdb_mut().set_sans_serif_family(f.clone());
        opt.font_family = f.clone();
    }
    (opt, family)
}

/// Renders every `*.svg` in `dir` to a `*.png` beside it at `scale` (2 = sharp on high-DPI
/// screens and in slides). Returns the number of files written.
pub fn render_dir(dir: &Path, scale: f32) -> Result<usize> {
    let (opt, _) = options();
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    entries.sort();
    for svg in &entries {
        let text = std::fs::read_to_string(svg).with_context(|| format!("{}", svg.display()))?;
        let tree = usvg::Tree::from_str(&text, &opt)
            .with_context(|| format!("{}: not a readable SVG", svg.display()))?;
        let size = tree.size();
        let (w, h) = (
            (size.width() * scale).ceil() as u32,
            (size.height() * scale).ceil() as u32,
        );
        let mut pixmap = tiny_skia::Pixmap::new(w.max(1), h.max(1))
            .with_context(|| format!("{}: cannot allocate {w}x{h} pixels", svg.display()))?;
        resvg::render(
            &tree,
            tiny_skia::Transform::from_scale(scale, scale),
            &mut pixmap.as_mut(),
        );
        let png = pixmap
            .encode_png()
            .with_context(|| format!("{}: PNG encoding", svg.display()))?;
        let path = svg.with_extension("png");
        segmint::output::write_atomic(&path, |f| {
            f.write_all(&png).map_err(|e| segmint::Error::Io {
                path: path.clone(),
                source: e,
            })
        })?;
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text is drawn (when the machine has any font): dark pixels where the label is.
    #[test]
    fn renders_text_with_a_system_font() {
        let (opt, family) = options();
        if family.is_none() {
            eprintln!("SKIPPED text rendering check: no fonts installed");
            return;
        }
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40" font-family="Helvetica, Arial, sans-serif"><rect width="200" height="40" fill="#fff"/><text x="10" y="28" font-size="24" fill="#000">Segments</text></svg>"##;
        let tree = usvg::Tree::from_str(svg, &opt).unwrap();
        let mut pixmap = tiny_skia::Pixmap::new(200, 40).unwrap();
        resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
        let dark = pixmap
            .pixels()
            .iter()
            .filter(|p| p.red() < 100 && p.alpha() > 200)
            .count();
        assert!(
            dark > 100,
            "only {dark} dark pixels: the text was not drawn"
        );
    }
}
