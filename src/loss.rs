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

/// Mean probability that D assigns to "real", for logging.
pub fn mean_probability(logits: Tensor<1>) -> Tensor<1> {
    sigmoid(logits).mean()
}
