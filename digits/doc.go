// Package digits turns pictures of handwritten digits into the 28×28 inputs
// of an MNIST model, preparing them the way MNIST's digits were made.
//
// # MNIST's recipe
//
// LeCun, Cortes and Burges describe it: NIST's black-and-white digits "were
// size normalized to fit in a 20x20 pixel box while preserving their aspect
// ratio. The resulting images contain grey levels as a result of the
// anti-aliasing technique used by the normalization algorithm. The images
// were centered in a 28x28 image by computing the center of mass of the
// pixels, and translating the image so as to position this point at the
// center of the 28x28 field." The digit is white (255) on black (0).
//
// Prepare follows it, one function per step:
//
//  1. Grey: luminance, Y = 0.299 R + 0.587 G + 0.114 B (Rec. 601, as
//     image/color's GrayModel), in [0, 1]; transparent pixels become ground.
//  2. Ground: the median of the border pixels. A ground above 0.5 means a
//     dark digit on a light ground, and the picture is inverted.
//  3. Stretch: the ground becomes 0 and the brightest pixel 1, linearly,
//     clamped to [0, 1]. A picture with too little contrast is refused.
//  4. Crop: to the bounding box of the pixels above Threshold.
//  5. Scale: by Box / (the box's longer side), keeping the aspect ratio,
//     with area averaging: each output pixel is the mean of the picture
//     over the square it covers (ground outside the picture).
//  6. Centre: the scaled digit is placed in a Side×Side image, moved by
//     whole pixels so that its centre of mass falls nearest (Centre,
//     Centre); values are rounded to multiples of 1/255, as MNIST stores
//     bytes.
//
// Raw skips all of this for pictures that are already MNIST-style: it only
// takes the luminance of a 28×28 picture.
//
// # Values
//
// Images are row-major slices of float32 in [0, 1], 0 the ground: a byte b
// of MNIST is float32(b)/255, as package mnist reads it. An 8-bit grey
// picture gives Raw exactly those values.
//
// # Errors and panics
//
// Decode refuses, with an error, files that are empty, are not PNG, JPEG or
// GIF, are truncated or corrupt, or are larger than MaxSide on a side (before
// decoding the pixels); Prepare refuses a picture without a digit (too little
// contrast). Nothing in a file's content makes a function panic; a Plane of
// the wrong length passed by a caller does.
package digits
