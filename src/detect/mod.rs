//! Face detection with OpenCV cascade files (Haar and LBP), run natively.
