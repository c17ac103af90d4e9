//! Face datasets: cleaning a raw folder ([`prepare`]), the packed file that training reads
//! ([`packed`]), and batches for the training loop ([`loader`]).

pub mod decode;
pub mod dedup;
pub mod loader;
pub mod packed;
pub mod prepare;
pub mod report;

/// File name of the packed dataset inside a prepared folder.
pub const PACKED_FILE_NAME: &str = "faces.kaopack";
/// Folder of the PNG images inside a prepared folder.
pub const IMAGES_DIR_NAME: &str = "images";

/// Returns the file, relative to a prepared dataset folder, of the image at `index` of its
/// packed file.
pub fn image_file_name(index: usize) -> String {
    format!("{IMAGES_DIR_NAME}/{index:06}.png")
}
/// File name of the preparation report inside a prepared folder.
pub const REPORT_FILE_NAME: &str = "report.json";
