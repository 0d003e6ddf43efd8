//! Static images of the notebooks' figures, so stored notebooks show them everywhere.
//!
//! A figure output of a notebook carries plotly's JSON (`application/vnd.plotly.v1+json`),
//! which JupyterLab and VS Code draw natively. GitHub, nbviewer and other static viewers
//! ignore that mimetype and run no JavaScript, so they showed an empty output. When
//! `cargo xtask notebooks --bless` stores a notebook, [`add_images`] renders every figure's
//! JSON to a PNG with plotly.js in headless Chromium (the same Chromium and plotly.js as the
//! book) and stores it as `image/png` in the same output; [`check_images`] makes
//! `cargo xtask notebooks` fail on a stored figure without its image.

use std::path::Path;

use serde_json::Value;

use crate::book::checks::render_in_chromium;
use crate::book::find_chromium;

/// The mimetype of a plotly figure in a notebook output.
pub const PLOTLY_MIME: &str = "application/vnd.plotly.v1+json";

/// The mimetype of the stored static image.
pub const PNG_MIME: &str = "image/png";

/// The first bytes of every PNG file, base64-encoded (`\x89PNG\r\n\x1a\n`).
const PNG_BASE64_SIGNATURE: &str = "iVBORw0KGgo";

/// Size of a figure whose layout sets none: plotly's own default, 700 × 450 (600 wide cut
/// chapter 8's title and squeezed notebook 6's four heads).
const DEFAULT_SIZE: (u64, u64) = (700, 450);

/// A stored image larger than this (base64 characters, about 75 KB of PNG) fails the check:
/// keep notebooks light. The figures of 2026-11-27 took 24-65 KB (chapter 8's line chart, the
/// largest, 65 KB).
pub const MAX_IMAGE_BASE64: usize = 100_000;

/// The figure outputs of a notebook: `(code cell index, output)`, in order.
fn figure_outputs(notebook: &mut Value) -> Vec<(usize, &mut Value)> {
    let cells = notebook["cells"].as_array_mut().into_iter().flatten();
    cells
        .filter(|c| c["cell_type"] == "code")
        .enumerate()
        .flat_map(|(i, cell)| {
            let outputs = cell.get_mut("outputs").and_then(Value::as_array_mut);
            outputs
                .into_iter()
                .flatten()
                .filter(|o| o["data"].get(PLOTLY_MIME).is_some())
                .map(move |o| (i, o))
        })
        .collect()
}

/// Renders every figure of `notebook` to a PNG and stores it as `image/png` beside the figure's
/// JSON (one Chromium run for the whole notebook).
pub fn add_images(notebook: &mut Value) -> Result<usize, String> {
    let mut figures = figure_outputs(notebook);
    if figures.is_empty() {
        return Ok(0);
    }
    let specs: Vec<Value> = figures
        .iter()
        .map(|(_, o)| o["data"][PLOTLY_MIME].clone())
        .collect();
    let mut images = render_pngs(&specs, 1.0)?;
    // A figure whose image is over the limit (a dense heatmap) is drawn again, smaller.
    for factor in [0.8, 0.65, 0.5] {
        let big: Vec<usize> = (0..images.len())
            .filter(|&i| images[i].len() > MAX_IMAGE_BASE64)
            .collect();
        if big.is_empty() {
            break;
        }
        let again: Vec<Value> = big.iter().map(|&i| specs[i].clone()).collect();
        for (i, png) in big.into_iter().zip(render_pngs(&again, factor)?) {
            images[i] = png;
        }
    }
    for ((_, output), png) in figures.iter_mut().zip(images) {
        output["data"][PNG_MIME] = Value::String(png);
    }
    Ok(figures.len())
}

/// Fails on the first stored figure output without a PNG image (or with an oversized one).
pub fn check_images(notebook: &Value) -> Result<(), String> {
    let mut notebook = notebook.clone();
    for (i, output) in figure_outputs(&mut notebook) {
        let png = output["data"][PNG_MIME].as_str().unwrap_or_default();
        if !png.starts_with(PNG_BASE64_SIGNATURE) {
            return Err(format!(
                "code cell {i}: a stored figure has no static image ({PNG_MIME}), so GitHub and \
                 nbviewer show nothing: bless the notebook (`cargo xtask notebooks NAME --bless`)"
            ));
        }
        if png.len() > MAX_IMAGE_BASE64 {
            return Err(format!(
                "code cell {i}: the figure's image takes {} base64 characters, more than \
                 {MAX_IMAGE_BASE64}: make the figure smaller",
                png.len()
            ));
        }
    }
    Ok(())
}

/// PNGs (base64, without the `data:` prefix) of plotly figure specs, rendered by plotly.js's
/// `Plotly.toImage` in headless Chromium, at the size the layout asks for (else 700 × 450)
/// times `factor`.
pub fn render_pngs(specs: &[Value], factor: f64) -> Result<Vec<String>, String> {
    let chromium = find_chromium()?;
    let dir = std::env::temp_dir().join(format!("xtask-figure-images-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = render_in(&chromium, &dir, specs, factor);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn render_in(
    chromium: &str,
    dir: &Path,
    specs: &[Value],
    factor: f64,
) -> Result<Vec<String>, String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    write("plotly.min.js", &attention::plot::plotly_js())?;
    let sized: Vec<Value> = specs
        .iter()
        .map(|spec| {
            let layout = &spec["layout"];
            let size = |key: &str, default: u64| {
                (layout[key].as_u64().unwrap_or(default) as f64 * factor).round() as u64
            };
            serde_json::json!({
                "data": spec["data"],
                "layout": layout,
                "width": size("width", DEFAULT_SIZE.0),
                "height": size("height", DEFAULT_SIZE.1),
            })
        })
        .collect();
    // `</` never appears inside the script: escaped as `<\/`, which JSON reads back as `</`.
    let figures = serde_json::to_string(&sized)
        .map_err(|e| e.to_string())?
        .replace("</", "<\\/");
    write(
        "render.html",
        &format!(
            r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="plotly.min.js"></script></head>
<body><div id="plot"></div><script>
const figures = {figures};
(async () => {{
  for (const [i, f] of figures.entries()) {{
    const url = await Plotly.toImage(
      {{data: f.data, layout: f.layout}},
      {{format: "png", width: f.width, height: f.height, scale: 1}});
    const pre = document.createElement("pre");
    pre.id = "png-" + i;
    pre.textContent = url;
    document.body.appendChild(pre);
  }}
  document.body.setAttribute("data-done", figures.length);
}})().catch(e => document.body.setAttribute("data-error", String(e)));
</script></body></html>
"#
        ),
    )?;
    let dom = render_in_chromium(chromium, &dir.join("render.html"))?;
    if let Some(start) = dom.find("data-error=\"") {
        let rest = &dom[start + 12..];
        return Err(format!(
            "plotly.js could not render a figure: {}",
            &rest[..rest.find('"').unwrap_or(rest.len())]
        ));
    }
    (0..specs.len())
        .map(|i| {
            let open = format!("<pre id=\"png-{i}\">data:image/png;base64,");
            let start = dom
                .find(&open)
                .ok_or_else(|| format!("figure {i}: Chromium produced no image"))?
                + open.len();
            let end = dom[start..].find("</pre>").ok_or("unterminated image")? + start;
            Ok(dom[start..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook(output: Value) -> Value {
        serde_json::json!({"cells": [
            {"cell_type": "markdown", "source": "# title"},
            {"cell_type": "code", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": "hello\n"},
                output]}]})
    }

    fn figure() -> Value {
        serde_json::json!({"data": [{"type": "heatmap", "z": [[0.1, 0.9], [0.6, 0.4]]}],
                           "layout": {"title": {"text": "a test figure"}, "width": 320,
                                      "height": 240}})
    }

    #[test]
    fn a_stored_figure_without_an_image_fails_the_check() {
        let without = notebook(serde_json::json!({"output_type": "display_data",
            "metadata": {}, "data": {PLOTLY_MIME: figure()}}));
        let err = check_images(&without).unwrap_err();
        assert!(
            err.contains("code cell 0") && err.contains("no static image"),
            "{err}"
        );
        // Not an image at all.
        let mut bad = without.clone();
        bad["cells"][1]["outputs"][1]["data"][PNG_MIME] = "bm90IGEgcG5n".into();
        assert!(check_images(&bad).is_err());
        // Too large.
        let mut huge = without.clone();
        let big = format!("{PNG_BASE64_SIGNATURE}{}", "A".repeat(MAX_IMAGE_BASE64));
        huge["cells"][1]["outputs"][1]["data"][PNG_MIME] = big.into();
        assert!(check_images(&huge).unwrap_err().contains("more than"));
        // Outputs that are not figures need no image.
        let text = notebook(
            serde_json::json!({"output_type": "stream", "name": "stdout",
            "text": "x\n"}),
        );
        assert!(check_images(&text).is_ok());
    }

    #[test]
    fn blessing_renders_each_figure_to_a_png_in_chromium() {
        let mut nb = notebook(serde_json::json!({"output_type": "display_data",
            "metadata": {}, "data": {PLOTLY_MIME: figure()}}));
        assert_eq!(add_images(&mut nb).unwrap(), 1);
        check_images(&nb).unwrap();
        let png = nb["cells"][1]["outputs"][1]["data"][PNG_MIME]
            .as_str()
            .unwrap();
        // A real picture: a 320 × 240 heatmap with its title compresses to a few KB, far more
        // than an empty canvas. The IHDR chunk (base64 from character 16) holds the size.
        assert!(png.len() > 2_000, "{} base64 characters", png.len());
        assert!(
            png.starts_with("iVBORw0KGgoAAAANSUhEUgAAAUAAAADw"),
            "{}",
            &png[..40]
        );
        // The JSON stays, for JupyterLab and VS Code.
        assert!(nb["cells"][1]["outputs"][1]["data"][PLOTLY_MIME].is_object());
    }
}
