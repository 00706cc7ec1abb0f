//! A faster stand-in for tract's bilinear `Resize` in the salient-object network.
//!
//! U^2-Net upsamples its decoder maps 38 times per run. tract's generic `Resize` walks one
//! axis at a time with a plan built at every call and an inner loop of one element along
//! W; on this network it was a tenth of the run. Each such node whose input is a concrete
//! NCHW f32 tensor, resized over H and W only with at most two taps per output index, is
//! replaced by [`Bilinear`]: the same taps (taken from tract's own plan, so the ONNX
//! coordinate transform is unchanged) computed once at load, then applied W first, H
//! second, as whole rows. Anything else keeps tract's op.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::nn::resize::{AxisPlan, Interpolator, Resize};

/// The two source indices and the weight of the second, for each output index of an axis.
#[derive(Clone, Debug, PartialEq)]
struct Taps {
    lo: Vec<usize>,
    hi: Vec<usize>,
    weight: Vec<f32>,
}

impl Taps {
    /// `plan` as two taps per output, when every output reads one or two inputs of the
    /// axis with weights that sum to one; `None` for anything else (extrapolation, cubic).
    fn from_plan(plan: &AxisPlan, len_in: usize) -> Option<Self> {
        let len_out = plan.extrapolated.len();
        let mut taps = Taps { lo: Vec::with_capacity(len_out), hi: Vec::with_capacity(len_out), weight: Vec::new() };
        for x in 0..len_out {
            if plan.extrapolated[x] {
                return None;
            }
            let indices = plan.indices.get(x * plan.window..(x + 1) * plan.window)?;
            let weights = plan.weights.get(x * plan.window..(x + 1) * plan.window)?;
            let mut read = indices.iter().zip(weights).filter(|(_, w)| **w != 0.0);
            let (lo, hi, weight) = match (read.next(), read.next(), read.next()) {
                (Some((&i, &w)), None, None) if (w - 1.0).abs() < 1e-6 => (i, i, 0.0),
                (Some((&i, &wi)), Some((&j, &wj)), None) if (wi + wj - 1.0).abs() < 1e-5 => (i, j, wj),
                _ => return None,
            };
            if lo >= len_in || hi >= len_in {
                return None;
            }
            taps.lo.push(lo);
            taps.hi.push(hi);
            taps.weight.push(weight);
        }
        Some(taps)
    }
}

/// Bilinear resize of the last two axes of an NCHW f32 tensor, by precomputed taps.
#[derive(Clone, Debug, PartialEq)]
pub struct Bilinear {
    input_shape: [usize; 4],
    output_shape: [usize; 4],
    rows: Taps,
    columns: Taps,
}

// tract hashes ops to compare plans; the shapes say enough for that.
impl std::hash::Hash for Bilinear {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input_shape.hash(state);
        self.output_shape.hash(state);
    }
}

impl Eq for Bilinear {}

impl Op for Bilinear {
    fn name(&self) -> StaticName {
        "BackdropBilinear".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Bilinear {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        ensure!(input.shape() == self.input_shape, "BackdropBilinear: input of shape {:?}", input.shape());
        let [_, _, h_in, w_in] = self.input_shape;
        let [n, c, h_out, w_out] = self.output_shape;
        let input = input.try_as_plain_ram()?;
        let src = input.as_slice::<f32>()?;
        let mut out = vec![0f32; n * c * h_out * w_out];
        let mut widened = vec![0f32; h_in * w_out];
        for (plane, dst) in src.chunks_exact(h_in * w_in).zip(out.chunks_exact_mut(h_out * w_out)) {
            for (row, wide) in plane.chunks_exact(w_in).zip(widened.chunks_exact_mut(w_out)) {
                for (x, v) in wide.iter_mut().enumerate() {
                    let (a, b) = (row[self.columns.lo[x]], row[self.columns.hi[x]]);
                    *v = a + self.columns.weight[x] * (b - a);
                }
            }
            for (y, line) in dst.chunks_exact_mut(w_out).enumerate() {
                let a = &widened[self.rows.lo[y] * w_out..][..w_out];
                let b = &widened[self.rows.hi[y] * w_out..][..w_out];
                let t = self.rows.weight[y];
                for ((v, a), b) in line.iter_mut().zip(a).zip(b) {
                    *v = a + t * (b - a);
                }
            }
        }
        Ok(tvec!(Tensor::from_shape(&self.output_shape, &out)?.into_tvalue()))
    }
}

impl TypedOp for Bilinear {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.output_shape)))
    }

    as_op!();
}

/// Replaces each bilinear `Resize` of `model` that [`Bilinear`] can compute; returns how
/// many it replaced.
pub fn replace_resizes(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes().len() {
        let node = model.node(id).clone();
        let Some(op) = bilinear_of(model, &node)? else { continue };
        TypedModelPatch::replace_single_op(model, &node, &node.inputs[..1], op)?.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

/// The [`Bilinear`] that computes `node`, if it is a `Resize` it can take over.
fn bilinear_of(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Bilinear>> {
    let Some(resize) = node.op_as::<Resize>() else { return Ok(None) };
    let input = model.outlet_fact(node.inputs[0])?;
    let output = model.outlet_fact(OutletId::new(node.id, 0))?;
    if !matches!(resize.interpolator, Interpolator::Linear) || input.datum_type != f32::datum_type() {
        return Ok(None);
    }
    let (Some(i), Some(o)) = (input.shape.as_concrete(), output.shape.as_concrete()) else { return Ok(None) };
    let (Ok(i), Ok(o)) = (<[usize; 4]>::try_from(i), <[usize; 4]>::try_from(o)) else { return Ok(None) };
    if i[..2] != o[..2] || i.contains(&0) {
        return Ok(None);
    }
    // The scales tract's own eval would use: the constant input, or output over input.
    let given = resize
        .optional_scales_input
        .and_then(|ix| node.inputs.get(ix))
        .and_then(|outlet| model.outlet_fact(*outlet).ok())
        .and_then(|fact| fact.konst.clone())
        .filter(|scales| scales.len() == 4);
    let scales: Vec<f32> = match given {
        Some(scales) => scales.cast_to::<f32>()?.try_as_plain_ram()?.as_slice::<f32>()?.to_vec(),
        None => o.iter().zip(&i).map(|(o, i)| *o as f32 / *i as f32).collect(),
    };
    if scales[0] != 1.0 || scales[1] != 1.0 {
        return Ok(None);
    }
    let rows = Taps::from_plan(&resize.plan_axis(scales[2], i[2], o[2]), i[2]);
    let columns = Taps::from_plan(&resize.plan_axis(scales[3], i[3], o[3]), i[3]);
    Ok(rows.zip(columns).map(|(rows, columns)| Bilinear { input_shape: i, output_shape: o, rows, columns }))
}
