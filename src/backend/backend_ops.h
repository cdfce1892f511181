// backend_ops.h — the compute ops of the backend table (backend.h) as one list, for the wrappers
// that stand between a caller and a backend (src/backend/backend_prof.c counts and times every op,
// src/backend/backend_record.c records them for replay). Each entry is
//   X(op, kind, (k, T, name), ...)   kind: OWN (our kernels) or LIBRARY (cuDNN / cuBLAS)
// with one triple per parameter after `be`: k = V (passed as is; type T) or D (a descriptor
// passed as `const T *`, which a recorder must copy). The memory entries (alloc, free, copies to
// and from the host, sync) are not here: each wrapper treats them on its own.
#ifndef HPFF_BACKEND_OPS_H
#define HPFF_BACKEND_OPS_H

#define HPFF_BACKEND_OPS(X)                                                                                  \
    X(copy, OWN, (V, void *, dst), (V, const void *, src), (V, size_t, bytes))                              \
    X(fill, OWN, (V, float *, x), (V, float, v), (V, size_t, n))                                            \
    X(scale, OWN, (V, float *, x), (V, float, a), (V, size_t, n))                                           \
    X(axpy, OWN, (V, float *, y), (V, float, a), (V, const float *, x), (V, size_t, n))                     \
    X(add, OWN, (V, float *, y), (V, const float *, a), (V, const float *, b), (V, size_t, n))              \
    X(relu_fwd, OWN, (V, float *, y), (V, const float *, x), (V, size_t, n))                                \
    X(relu_bwd, OWN, (V, float *, dx), (V, const float *, y), (V, const float *, dy), (V, size_t, n),        \
      (V, float, beta))                                                                                      \
    X(sigmoid_fwd, OWN, (V, float *, y), (V, const float *, x), (V, size_t, n))                             \
    X(sigmoid_bwd, OWN, (V, float *, dx), (V, const float *, y), (V, const float *, dy), (V, size_t, n),     \
      (V, float, beta))                                                                                      \
    X(conv_fwd, LIBRARY, (D, hpff_conv_desc, d), (V, const float *, x), (V, const float *, w),              \
      (V, const float *, bias), (V, float *, y), (V, void *, ws))                                            \
    X(conv_bwd_data, LIBRARY, (D, hpff_conv_desc, d), (V, const float *, w), (V, const float *, dy),        \
      (V, float *, dx), (V, float, beta), (V, void *, ws))                                                   \
    X(conv_bwd_filter, LIBRARY, (D, hpff_conv_desc, d), (V, const float *, x), (V, const float *, dy),      \
      (V, float *, dw), (V, float *, dbias), (V, void *, ws))                                                \
    X(bn_fwd_train, OWN, (V, int, n), (V, int, c), (V, int, hw), (V, const float *, x),                     \
      (V, const float *, gamma), (V, const float *, beta), (V, float *, y), (V, float *, running_mean),     \
      (V, float *, running_var), (V, float, momentum), (V, float, eps), (V, float *, save_mean),           \
      (V, float *, save_invstd), (V, int, relu))                                                             \
    X(bn_fwd_eval, OWN, (V, int, n), (V, int, c), (V, int, hw), (V, const float *, x),                      \
      (V, const float *, gamma), (V, const float *, beta), (V, float *, y),                                 \
      (V, const float *, running_mean), (V, const float *, running_var), (V, float, eps), (V, int, relu))   \
    X(bn_bwd, OWN, (V, int, n), (V, int, c), (V, int, hw), (V, const float *, x), (V, const float *, dy),   \
      (V, const float *, gamma), (V, const float *, save_mean), (V, const float *, save_invstd),            \
      (V, const float *, relu_y), (V, float *, dx), (V, float, beta_dx), (V, float *, dgamma),             \
      (V, float *, dbeta))                                                                                   \
    X(bn_fwd_train_blocked, OWN, (V, int, block), (V, int, n), (V, int, c), (V, int, hw), (V, const float *, x), \
      (V, const float *, gamma), (V, const float *, beta), (V, float *, y), (V, float *, running_mean),     \
      (V, float *, running_var), (V, float, momentum), (V, float, eps), (V, float *, save_mean),           \
      (V, float *, save_invstd), (V, int, relu))                                                             \
    X(bn_fwd_eval_blocked, OWN, (V, int, block), (V, int, n), (V, int, c), (V, int, hw), (V, const float *, x), \
      (V, const float *, gamma), (V, const float *, beta), (V, float *, y),                                 \
      (V, const float *, running_mean), (V, const float *, running_var), (V, float, eps), (V, int, relu))   \
    X(bn_bwd_blocked, OWN, (V, int, block), (V, int, n), (V, int, c), (V, int, hw), (V, const float *, x),   \
      (V, const float *, dy), (V, const float *, gamma), (V, const float *, save_mean),                     \
      (V, const float *, save_invstd), (V, const float *, relu_y), (V, float *, dx), (V, float, beta_dx),    \
      (V, float *, dgamma), (V, float *, dbeta))                                                             \
    X(resize_bilinear_fwd_blocked, OWN, (V, int, block), (V, int, n), (V, int, c), (V, int, h_in),           \
      (V, int, w_in), (V, int, h_out), (V, int, w_out), (V, const float *, x), (V, float *, y))              \
    X(resize_bilinear_bwd_blocked, OWN, (V, int, block), (V, int, n), (V, int, c), (V, int, h_in),           \
      (V, int, w_in), (V, int, h_out), (V, int, w_out), (V, const float *, dy), (V, float *, dx),            \
      (V, float, beta))                                                                                      \
    X(reorder, OWN, (V, int, n), (V, int, c), (V, int, hw), (V, int, from), (V, const float *, x),          \
      (V, const float *, mask), (V, int, to), (V, float *, y), (V, const float *, add), (V, int, relu))     \
    X(maxpool_fwd, OWN, (D, hpff_pool_desc, d), (V, const float *, x), (V, float *, y))                     \
    X(maxpool_bwd, OWN, (D, hpff_pool_desc, d), (V, const float *, x), (V, const float *, y),               \
      (V, const float *, dy), (V, float *, dx), (V, float, beta))                                           \
    X(avgpool_fwd, OWN, (D, hpff_pool_desc, d), (V, const float *, x), (V, float *, y))                     \
    X(avgpool_bwd, OWN, (D, hpff_pool_desc, d), (V, const float *, dy), (V, float *, dx), (V, float, beta)) \
    X(adaptive_avgpool_fwd, OWN, (V, int, n), (V, int, c), (V, int, h_in), (V, int, w_in), (V, int, h_out), \
      (V, int, w_out), (V, const float *, x), (V, float *, y))                                              \
    X(adaptive_avgpool_bwd, OWN, (V, int, n), (V, int, c), (V, int, h_in), (V, int, w_in), (V, int, h_out), \
      (V, int, w_out), (V, const float *, dy), (V, float *, dx), (V, float, beta))                          \
    X(linear_fwd, LIBRARY, (V, int, n), (V, int, in), (V, int, out), (V, const float *, x),                 \
      (V, const float *, w), (V, const float *, b), (V, float *, y))                                         \
    X(linear_bwd_data, LIBRARY, (V, int, n), (V, int, in), (V, int, out), (V, const float *, w),            \
      (V, const float *, dy), (V, float *, dx), (V, float, beta))                                           \
    X(linear_bwd_weight, LIBRARY, (V, int, n), (V, int, in), (V, int, out), (V, const float *, x),          \
      (V, const float *, dy), (V, float *, dw), (V, float *, db))                                           \
    X(resize_bilinear_fwd, OWN, (V, int, n), (V, int, c), (V, int, h_in), (V, int, w_in), (V, int, h_out),  \
      (V, int, w_out), (V, const float *, x), (V, float *, y))                                              \
    X(resize_bilinear_bwd, OWN, (V, int, n), (V, int, c), (V, int, h_in), (V, int, w_in), (V, int, h_out),  \
      (V, int, w_out), (V, const float *, dy), (V, float *, dx), (V, float, beta))                          \
    X(patch_extract, OWN, (V, int, n), (V, int, c), (V, int, h), (V, int, w), (V, int, r0), (V, int, c0),   \
      (V, int, ph), (V, int, pw), (V, const float *, x), (V, float *, pt))                                  \
    X(patch_scatter, OWN, (V, int, n), (V, int, c), (V, int, h), (V, int, w), (V, int, r0), (V, int, c0),   \
      (V, int, ph), (V, int, pw), (V, const float *, dp), (V, float *, dx), (V, float, beta))               \
    X(softmax_xent, OWN, (V, int, n), (V, int, k), (V, const float *, logits), (V, const int32_t *, labels), \
      (V, float, weight), (V, float *, dlogits), (V, float *, stat), (V, float, stat_scale))                \
    X(bce, OWN, (V, size_t, count), (V, const float *, pr), (V, const float *, t), (V, float, weight),      \
      (V, float *, dp), (V, float *, stat), (V, float, stat_scale))                                         \
    X(sgd_nesterov, OWN, (V, float *, pr), (V, float *, g), (V, float *, buf), (V, size_t, count),          \
      (V, float, lr), (V, float, mom), (V, float, wd), (V, int, first))                                     \
    X(spatial_std_fwd, OWN, (V, size_t, rows), (V, int, hw), (V, const float *, x), (V, float *, y))        \
    X(spatial_std_bwd, OWN, (V, size_t, rows), (V, int, hw), (V, const float *, x), (V, const float *, y),  \
      (V, const float *, dy), (V, float *, dx), (V, float, beta))                                           \
    X(simmat_mse, OWN, (V, int, n), (V, int, d), (V, const float *, v), (V, const int32_t *, labels),       \
      (V, int, classes), (V, float, weight), (V, float *, dv), (V, float *, stat), (V, float, stat_scale))  \
    X(supcon, OWN, (V, int, n), (V, int, d), (V, const float *, f), (V, const int32_t *, labels),           \
      (V, float, tau), (V, float, weight), (V, float *, df), (V, float *, stat), (V, float, stat_scale))

// HPFF_OPS_EACH(m, (k, T, a), ...) applies m to each parameter triple (up to 16).
#define HPFF_OPS_NARGS(...) HPFF_OPS_NARGS_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define HPFF_OPS_NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
#define HPFF_OPS_CAT(a, b) HPFF_OPS_CAT_(a, b)
#define HPFF_OPS_CAT_(a, b) a##b
#define HPFF_OPS_EACH(m, ...) HPFF_OPS_CAT(HPFF_OPS_EACH_, HPFF_OPS_NARGS(__VA_ARGS__))(m, __VA_ARGS__)
#define HPFF_OPS_EACH_1(m, t) m t
#define HPFF_OPS_EACH_2(m, t, ...) m t HPFF_OPS_EACH_1(m, __VA_ARGS__)
#define HPFF_OPS_EACH_3(m, t, ...) m t HPFF_OPS_EACH_2(m, __VA_ARGS__)
#define HPFF_OPS_EACH_4(m, t, ...) m t HPFF_OPS_EACH_3(m, __VA_ARGS__)
#define HPFF_OPS_EACH_5(m, t, ...) m t HPFF_OPS_EACH_4(m, __VA_ARGS__)
#define HPFF_OPS_EACH_6(m, t, ...) m t HPFF_OPS_EACH_5(m, __VA_ARGS__)
#define HPFF_OPS_EACH_7(m, t, ...) m t HPFF_OPS_EACH_6(m, __VA_ARGS__)
#define HPFF_OPS_EACH_8(m, t, ...) m t HPFF_OPS_EACH_7(m, __VA_ARGS__)
#define HPFF_OPS_EACH_9(m, t, ...) m t HPFF_OPS_EACH_8(m, __VA_ARGS__)
#define HPFF_OPS_EACH_10(m, t, ...) m t HPFF_OPS_EACH_9(m, __VA_ARGS__)
#define HPFF_OPS_EACH_11(m, t, ...) m t HPFF_OPS_EACH_10(m, __VA_ARGS__)
#define HPFF_OPS_EACH_12(m, t, ...) m t HPFF_OPS_EACH_11(m, __VA_ARGS__)
#define HPFF_OPS_EACH_13(m, t, ...) m t HPFF_OPS_EACH_12(m, __VA_ARGS__)
#define HPFF_OPS_EACH_14(m, t, ...) m t HPFF_OPS_EACH_13(m, __VA_ARGS__)
#define HPFF_OPS_EACH_15(m, t, ...) m t HPFF_OPS_EACH_14(m, __VA_ARGS__)
#define HPFF_OPS_EACH_16(m, t, ...) m t HPFF_OPS_EACH_15(m, __VA_ARGS__)

// The op's parameter list after `be` (each with a leading comma), and its argument names.
#define HPFF_OPS_PARAM(k, T, a) , HPFF_OPS_PTYPE_##k(T) a
#define HPFF_OPS_PTYPE_V(T) T
#define HPFF_OPS_PTYPE_D(T) const T *
#define HPFF_OPS_ARG(k, T, a) , a

#endif
