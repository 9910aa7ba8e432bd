//! GAN training and generation (DCGAN, CGAN, ACGAN, InfoGAN) with burn: see the GAN issue.
