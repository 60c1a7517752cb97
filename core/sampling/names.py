"""Sampler and scheduler names offered in combos, importable without torch (the catalogue loads fast).

core.sampling.samplers / schedulers implement exactly these; tests check the two stay equal.
"""
SAMPLER_NAMES = ("euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "dpm_2",
                 "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_sde",
                 "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
                 "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "res_multistep",
                 "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp",
                 "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "ddim", "uni_pc", "uni_pc_bh2")

# beta57 is the beta schedule with alpha 0.5, beta 0.7 (the RES4LYF pack's name, which official templates use)
SCHEDULER_NAMES = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                   "linear_quadratic", "kl_optimal", "beta57")
