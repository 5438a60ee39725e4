/** Test helper: a `.npy` buffer for an array, as numpy would write it. */
export { encodeNpy as makeNpy } from "./npy";
