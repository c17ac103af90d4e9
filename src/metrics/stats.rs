//! FID and KID from Inception features.
//!
//! FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to two feature
//! sets: `|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`. KID (Bińkowski et al.
//! 2018) is an unbiased estimate of the squared MMD with the cubic polynomial kernel
//! `k(x, y) = (x . y / d + 1)^3`, averaged over random subsets as NVIDIA's metric code does.

use faer::{Mat, Side};
use super::features::Features;
use super::inception::FEATURE_DIM;
use crate::rng::KaoRng;

/// Subsets KID averages over.
pub const KID_SUBSETS: usize = 100;

/// The largest KID subset.
pub const KID_MAX_SUBSET: usize = 1000;

/// Mean and covariance of a feature set, in f64.
pub struct Statistics {
    pub count: usize,
    pub mean: Vec<f64>,
    pub cov: Mat<f64>,
}

impl Statistics {
    /// Fits mean and (unbiased, `n - 1`) covariance to `features`, which need at least 2 rows.
    pub fn of(features: &Features) -> anyhow::Result<Self> {
        let (count, dim) = (features.count, FEATURE_DIM);
        if count < 2 {
            anyhow::bail!("FID needs at least 2 images per set, got {count}");
        }
        let mut mean = vec![0f64; dim];
        for row in 0..count {
            for (sum, &value) in mean.iter_mut().zip(features.row(row)) {
                *sum += value as f64;
            }
        }
        mean.iter_mut().for_each(|sum| *sum /= count as f64);

        let centred = Mat::<f64>::from_fn(count, dim, |row, column| features.row(row)[column] as f64 - mean[column]);
        let cov = centred.transpose() * &centred / (count - 1) as f64;
        Ok(Self { count, mean, cov })
    }
}

/// FID between two fitted Gaussians. The square-root term is computed symmetrically as
/// `tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))`, which has the same eigenvalues as `S_a S_b` but stays
/// symmetric, so one symmetric eigendecomposition gives it without complex round-off.
pub fn fid(a: &Statistics, b: &Statistics) -> anyhow::Result<f64> {
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let trace = |m: &Mat<f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>();

    let sqrt_a = symmetric_sqrt(&a.cov)?;
    let product = &sqrt_a * &b.cov * &sqrt_a;
    let eigenvalues = symmetrise(product).self_adjoint_eigenvalues(Side::Lower).map_err(eigen_error)?;
    let trace_covmean: f64 = eigenvalues.iter().map(|&value| value.max(0.0).sqrt()).sum();

    Ok(mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * trace_covmean)
}

/// `U diag(sqrt(max(l, 0))) U^T` for the eigendecomposition `m = U diag(l) U^T`. Covariances of
/// fewer images than dimensions are singular, and round-off makes some eigenvalues slightly
/// negative; they are zero in exact arithmetic.
fn symmetric_sqrt(m: &Mat<f64>) -> anyhow::Result<Mat<f64>> {
    let eigen = m.self_adjoint_eigen(Side::Lower).map_err(eigen_error)?;
    let (u, s) = (eigen.U(), eigen.S());
    let scaled = Mat::<f64>::from_fn(u.nrows(), u.ncols(), |row, column| u[(row, column)] * s[column].max(0.0).sqrt());
    Ok(&scaled * u.transpose())
}

fn symmetrise(m: Mat<f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |row, column| 0.5 * (m[(row, column)] + m[(column, row)]))
}

fn eigen_error(error: faer::linalg::evd::EvdError) -> anyhow::Error {
    anyhow::anyhow!("the eigendecomposition for FID did not converge: {error:?}")
}

/// KID between `generated` and `real`: the mean over `KID_SUBSETS` random subsets of
/// `min(count_a, count_b, KID_MAX_SUBSET)` images of the unbiased MMD^2 estimate.
pub fn kid(generated: &Features, real: &Features, seed: u64) -> anyhow::Result<f64> {
    let size = generated.count.min(real.count).min(KID_MAX_SUBSET);
    if size < 2 {
        anyhow::bail!("KID needs at least 2 images per set, got {} and {}", generated.count, real.count);
    }
    let mut rng = KaoRng::for_purpose(seed, "kid");
    let mut total = 0.0;
    for _ in 0..KID_SUBSETS {
        let x = subset(generated, size, &mut rng);
        let y = subset(real, size, &mut rng);
        let within = kernel_sum_off_diagonal(&x) + kernel_sum_off_diagonal(&y);
        let between = kernel_sum(&x, &y);
        total += within / (size - 1) as f64 - 2.0 * between / size as f64;
    }
    Ok(total / KID_SUBSETS as f64 / size as f64)
}

/// `size` distinct random rows as an f32 matrix; f32 like NVIDIA's features.
fn subset(features: &Features, size: usize, rng: &mut KaoRng) -> Mat<f32> {
    // A partial Fisher-Yates shuffle: the first `size` entries are a uniform draw without replacement.
    let mut rows: Vec<usize> = (0..features.count).collect();
    for i in 0..size {
        let j = i + rng.below(features.count - i);
        rows.swap(i, j);
    }
    Mat::from_fn(size, FEATURE_DIM, |row, column| features.row(rows[row])[column])
}

/// Cubic polynomial kernel matrix `(x y^T / d + 1)^3`.
fn kernel(x: &Mat<f32>, y: &Mat<f32>) -> Mat<f32> {
    let dot = x * y.transpose();
    let d = FEATURE_DIM as f32;
    Mat::from_fn(dot.nrows(), dot.ncols(), |row, column| (dot[(row, column)] / d + 1.0).powi(3))
}

fn kernel_sum(x: &Mat<f32>, y: &Mat<f32>) -> f64 {
    matrix_sum(&kernel(x, y))
}

/// Sums the kernel matrix of `x` with itself, leaving out its diagonal.
fn kernel_sum_off_diagonal(x: &Mat<f32>) -> f64 {
    let k = kernel(x, x);
    let diagonal: f64 = (0..k.nrows()).map(|i| k[(i, i)] as f64).sum();
    matrix_sum(&k) - diagonal
}

/// Sums every entry of `m` in f64.
fn matrix_sum(m: &Mat<f32>) -> f64 {
    (0..m.ncols()).map(|column| (0..m.nrows()).map(|row| m[(row, column)] as f64).sum::<f64>()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statistics with the given mean and covariance, padded with zeros to 2048 dimensions.
    fn gaussian(mean: &[f64], cov: &[[f64; 2]; 2]) -> Statistics {
        let mut full_mean = vec![0.0; FEATURE_DIM];
        full_mean[..2].copy_from_slice(mean);
        let full_cov = Mat::from_fn(FEATURE_DIM, FEATURE_DIM, |r, c| if r < 2 && c < 2 { cov[r][c] } else { 0.0 });
        Statistics { count: 1000, mean: full_mean, cov: full_cov }
    }

    #[test]
    fn fid_matches_2x2_closed_form() {
        // For 2x2 positive definite A and B, tr((A B)^(1/2)) = sqrt(tr(A B) + 2 sqrt(det A det B)).
        let (a, b) = ([[2.0, 0.5], [0.5, 1.0]], [[1.0, -0.3], [-0.3, 3.0]]);
        let tr_ab = a[0][0] * b[0][0] + a[0][1] * b[1][0] + a[1][0] * b[0][1] + a[1][1] * b[1][1];
        let det = |m: [[f64; 2]; 2]| m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let covmean = (tr_ab + 2.0 * (det(a) * det(b)).sqrt()).sqrt();
        let expected = (1.0f64 - 0.0).powi(2) + (2.0f64 - 0.5).powi(2) + (3.0 + 4.0) - 2.0 * covmean;

        let value = fid(&gaussian(&[1.0, 2.0], &a), &gaussian(&[0.0, 0.5], &b)).unwrap();
        assert!((value - expected).abs() < 1e-9, "FID {value}, closed form {expected}");
    }

    #[test]
    fn fid_of_a_distribution_with_itself_is_zero() {
        let a = gaussian(&[0.3, -1.0], &[[1.5, 0.2], [0.2, 0.7]]);
        assert!(fid(&a, &a).unwrap().abs() < 1e-9);
    }

    fn random_features(count: usize, shift: f32, seed: u64) -> Features {
        let mut rng = KaoRng::seed_from_u64(seed);
        let values = rng.normal_vec(count * FEATURE_DIM).into_iter().map(|v| v + shift).collect();
        Features { count, values }
    }

    #[test]
    fn kid_near_zero_unless_shifted() {
        let a = random_features(300, 0.0, 1);
        let b = random_features(300, 0.0, 2);
        let same = kid(&a, &b, 0).unwrap();
        assert!(same.abs() < 2e-3, "KID of two samples of one distribution: {same}");

        let shifted = kid(&a, &random_features(300, 0.5, 3), 0).unwrap();
        assert!(shifted > 100.0 * same.abs().max(1e-4), "KID under a mean shift: {shifted}");
    }
}
