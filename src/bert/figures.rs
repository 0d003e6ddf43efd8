//! Chapter 11's figure of sentences in two dimensions, one colour per cluster.

use ndarray::ArrayRef2;
use plotly::common::{Marker, Mode, Title};
use plotly::layout::{Axis, Layout};
use plotly::{Plot, Scatter};

use crate::error::{Error, Result};

/// Points `(n, 2)` (e.g. sentence vectors projected by PCA), one trace per group so each
/// group has its colour and legend entry (`group_names[groups[i]]`); hovering over a point
/// shows its `texts[i]`.
pub fn cluster_scatter(
    points: &ArrayRef2<f32>,
    groups: &[usize],
    group_names: &[String],
    texts: &[String],
    title: &str,
) -> Result<Plot> {
    let n = points.nrows();
    if points.ncols() != 2 {
        return Err(Error::shape("points", "(n, 2)", points.shape()));
    }
    if groups.len() != n || texts.len() != n {
        let want = format!("{n} groups and {n} texts, one per point");
        let got = format!("{} groups, {} texts", groups.len(), texts.len());
        return Err(Error::value("groups/texts", want, got));
    }
    if let Some(&bad) = groups.iter().find(|&&g| g >= group_names.len()) {
        let want = format!(
            "group indices < {} (the number of names)",
            group_names.len()
        );
        return Err(Error::value("groups", want, bad));
    }
    let mut plot = Plot::new();
    for (g, name) in group_names.iter().enumerate() {
        let members: Vec<usize> = (0..n).filter(|&i| groups[i] == g).collect();
        let trace = Scatter::new(
            members.iter().map(|&i| points[[i, 0]]).collect(),
            members.iter().map(|&i| points[[i, 1]]).collect(),
        )
        .mode(Mode::Markers)
        .marker(Marker::new().size(10))
        .text_array(members.iter().map(|&i| texts[i].clone()).collect())
        .hover_info(plotly::common::HoverInfo::Text)
        .name(name);
        plot.add_trace(trace);
    }
    plot.set_layout(
        Layout::new()
            .title(title)
            .height(500)
            .x_axis(Axis::new().title(Title::with_text("first principal component")))
            .y_axis(Axis::new().title(Title::with_text("second principal component"))),
    );
    Ok(plot)
}
