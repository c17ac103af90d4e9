//! GAN objectives, one function per loss with its formula in one place.
//!
//! All take raw discriminator logits. With sigmoid probability D(x) = sigmoid(logit),
//! `-log D(x) = softplus(-logit)` and `-log(1 - D(x)) = softplus(logit)`, which stays finite
//! for any logit where the log form would overflow.

use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softplus};

/// Discriminator logistic loss: `E[-log D(x)] + E[-log(1 - D(G(z)))]`, the binary cross-entropy
/// of real images labelled 1 and generated ones labelled 0.
pub fn d_logistic_loss(real_logits: Tensor<1>, fake_logits: Tensor<1>) -> Tensor<1> {
    softplus(real_logits.neg(), 1.0).mean() + softplus(fake_logits, 1.0).mean()
}

/// Generator non-saturating loss: `E[-log D(G(z))]`, which keeps gradients strong while D
/// rejects the fakes confidently (Goodfellow et al. 2014).
pub fn g_nonsaturating_loss(fake_logits: Tensor<1>) -> Tensor<1> {
    softplus(fake_logits.neg(), 1.0).mean()
}

/// Finite-difference estimate of the R1 penalty `E[|grad_x D(x)|^2]` on real images.
///
/// NOTE: burn's autodiff has no second-order gradients, so the exact R1 of Mescheder et al.
/// 2018 (which backpropagates through the input gradient) cannot be trained. For u ~ N(0, I),
/// `E_u[(grad D . u)^2] = |grad D|^2`, and `(D(x + eps u) - D(x)) / eps` estimates `grad D . u`
/// with first-order operations only, at the cost of one more D pass on perturbed reals.
pub fn d_r1_finite_difference(real_logits: Tensor<1>, perturbed_logits: Tensor<1>, epsilon: f64) -> Tensor<1> {
    (perturbed_logits - real_logits).div_scalar(epsilon).powi_scalar(2).mean()
}

/// Mean probability that D assigns to "real", for logging.
pub fn mean_probability(logits: Tensor<1>) -> Tensor<1> {
    sigmoid(logits).mean()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::model::tensor_values;

    fn logits(values: &[f32]) -> Tensor<1> {
        Tensor::from_floats(values, &Device::flex())
    }

    #[test]
    fn logistic_losses_at_known_points() {
        let ln2 = std::f32::consts::LN_2;
        let undecided = tensor_values(d_logistic_loss(logits(&[0.0, 0.0]), logits(&[0.0, 0.0])))[0];
        assert!((undecided - 2.0 * ln2).abs() < 1e-6, "{undecided}");
        let fooled = tensor_values(g_nonsaturating_loss(logits(&[0.0])))[0];
        assert!((fooled - ln2).abs() < 1e-6, "{fooled}");

        // A confident, correct D has a loss near 0 and stays finite for huge logits.
        let confident = tensor_values(d_logistic_loss(logits(&[80.0]), logits(&[-80.0])))[0];
        assert!(confident.abs() < 1e-6, "{confident}");
        let rejected = tensor_values(g_nonsaturating_loss(logits(&[-200.0])))[0];
        assert!((rejected - 200.0).abs() < 1e-3, "{rejected}");
    }

    #[test]
    fn finite_difference_r1_is_squared_slope() {
        // D(x + eps u) - D(x) = 0.02 with eps = 0.01 is a directional slope of 2.
        let penalty = tensor_values(d_r1_finite_difference(logits(&[1.0]), logits(&[1.02]), 0.01))[0];
        assert!((penalty - 4.0).abs() < 1e-3, "{penalty}");
    }
}
