"""What LLaMA-Factory's config keys mean to plugtune: the tables behind :mod:`.llamafactory`.

Defaults and meanings are LLaMA-Factory's own (``hparams/model_args.py``,
``data_args.py``, ``finetuning_args.py``, ``generating_args.py``, ``training_args.py``).
A key is mapped (in :mod:`.llamafactory`), noted (it changes nothing in plugtune) or
refused with the reason and what to do instead; docs/llamafactory.md has the same tables.
"""

from __future__ import annotations

from typing import Any

# stage -> trainer plugin (the names are the same; the table is the list of known stages).
STAGES = {"pt": "pt", "sft": "sft", "rm": "rm", "ppo": "ppo", "dpo": "dpo", "kto": "kto"}

# LLaMA-Factory flash_attn (but auto) -> transformers' attn_implementation (model.attention).
ATTENTION = {"disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2",
             "fa3": "flash_attention_3"}

# infer_backend -> backend plugin.
BACKENDS = {"huggingface": "transformers", "hf": "transformers", "vllm": "vllm"}
# LLaMA-Factory's vllm_* keys -> the vllm backend's options (vLLM's own engine argument names).
VLLM_OPTIONS = {
    "vllm_maxlen": "max_model_len",
    "vllm_gpu_util": "gpu_memory_utilization",
    "vllm_enforce_eager": "enforce_eager",
    "vllm_max_lora_rank": "max_lora_rank",
}

# Decoding: LLaMA-Factory's defaults (it samples unless do_sample is false).
GENERATION_DEFAULTS: dict[str, Any] = {
    "do_sample": True,
    "temperature": 0.95,
    "top_p": 0.7,
    "top_k": 50,
    "max_new_tokens": 1024,
    "repetition_penalty": 1.0,
}

# Preference defaults (LLaMA-Factory's), stated in the converted config.
PREFERENCE_DEFAULTS = {"pref_beta": 0.1, "pref_loss": "sigmoid", "simpo_gamma": 0.5}
# pref_loss -> the trainer that computes it: DPO's own losses stay dpo's loss_type; ORPO and
# SimPO are reference-free, TRL's ORPOTrainer and CPOTrainer (loss_type simpo).
PREFERENCE_LOSSES = {"sigmoid": "dpo", "hinge": "dpo", "ipo": "dpo", "orpo": "orpo",
                     "simpo": "simpo"}

# Keys refused whatever their value, by family.
MULTIMODAL_INSTEAD = (
    "plugtune trains (sft) and serves vision-language models through their processors "
    "(LLaVA, Qwen2-VL, Qwen2.5-VL and Qwen3-VL: templates qwen2_vl, qwen3_vl, "
    "qwen3_vl_nothink), sizing images by data.image_max_pixels/image_min_pixels and the "
    "processor's own settings, and reads no video or audio (docs/training.md, "
    "Vision-language models)"
)
MULTIMODAL_REASON = (
    f"a vision-language setting with no plugtune counterpart: {MULTIMODAL_INSTEAD}"
)
MULTIMODAL = {
    "image_do_pan_and_scan", "crop_to_patches",
    "image_resolution", "video_resolution", "use_audio_in_video", "audio_sampling_rate",
    "media_dir", "image_dir", "vision_lora",
}
# Mapped to the peft section's options of the same names (every peft method takes them).
VISION_TUNING = ("freeze_vision_tower", "freeze_multi_modal_projector", "train_mm_proj_only")

# Keys with no effect in plugtune, whatever their value.
NO_EFFECT = {
    "preprocessing_num_workers": "plugtune encodes in batches on its own; has no effect",
    "preprocessing_batch_size": "plugtune encodes in batches on its own; has no effect",
    "overwrite_cache": "plugtune keeps no cache of preprocessed data; has no effect",
    "data_shared_file_system": (
        "plugtune's rank 0 alone writes the tokenized_path folder (data.prepared) and every "
        "rank reads it: on several machines it must be on a filesystem all of them see; "
        "has no effect"
    ),
    # Logging and reporting: they change nothing about training.
    "include_effective_tokens_per_second": (
        "plugtune always counts the real tokens: num_input_tokens_seen and train_runtime "
        "in all_results.json, tokens and elapsed seconds in each trainer_log.jsonl line, "
        "tokens/s on the progress bar (no effective_tokens_per_sec metric); has no effect"
    ),
    "include_num_input_tokens_seen": (
        "plugtune always counts the real (non-padding) tokens once: num_input_tokens_seen "
        "in all_results.json and tokens in trainer_log.jsonl; has no effect"
    ),
    "include_tokens_per_second": (
        "plugtune shows tokens/s on the progress bar and logs tokens and elapsed seconds "
        "in trainer_log.jsonl; has no effect"
    ),
    "compute_accuracy": (
        "plugtune reports eval_loss, not LLaMA-Factory's token accuracy (`plugtune eval` "
        "scores generated answers with evaluation.metrics); has no effect"
    ),
    "print_param_status": (
        "plugtune logs the count of trainable parameters, not each one's status; has no "
        "effect"
    ),
    "logging_dir": (
        "transformers 5 has no logging_dir: TensorBoard events go to <output_dir>/runs "
        "(or $TENSORBOARD_LOGGING_DIR); has no effect"
    ),
}


def _same(reason: str, **defaults: Any) -> dict[str, tuple[Any, str]]:
    return {key: (value, reason) for key, value in defaults.items()}


# Keys plugtune cannot honour: (LLaMA-Factory's default, why / what to do). A key given
# with its default value asks for nothing plugtune does differently and is only noted.
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    **_same(
        "plugtune trains with the model's tokenizer as it is; add tokens to the model first",
        resize_vocab=False, split_special_tokens=False, add_tokens=None,
        add_special_tokens=None, new_special_tokens_config=None,
        init_special_tokens="noise_init",
    ),
    **_same("plugtune always uses the fast (Rust) tokenizer", use_fast_tokenizer=True),
    **_same(
        "plugtune uses the Hugging Face cache: set HF_HOME or HF_HUB_CACHE instead",
        cache_dir=None,
    ),
    **_same(
        "keep tokens out of configs: set HF_TOKEN (or run `hf auth login`)",
        hf_hub_token=None, ms_hub_token=None, om_hub_token=None,
    ),
    **_same(
        "plugtune loads the model as its own config describes and applies no such patch",
        rope_scaling=None, shift_attn=False, mixture_of_depths=None, use_unsloth=False,
        use_unsloth_gc=False, moe_aux_loss_coef=None,
        upcast_layernorm=False, upcast_lmhead_output=False, use_v1_kernels=False,
        train_from_scratch=False, low_cpu_mem_usage=True, use_kv_cache=True,
        offload_folder="offload", adapter_folder=None, print_param_status=False,
    ),
    **_same(
        "plugtune quantizes with bitsandbytes only (quantization_bit 4 or 8)",
        quantization_device_map=None, fp8=False,
        fp8_backend="auto", fp8_enable_fsdp_float8_all_gather=False,
    ),
    **_same(
        "plugtune's peft section has no such option (type, r, alpha, dropout, target, "
        "modules_to_save, trainable_layers, trainable_modules)",
        use_rslora=False, pissa_init=False, pissa_iter=16, pissa_convert=False,
        create_new_adapter=False, loraplus_lr_ratio=None, loraplus_lr_embedding=1e-6,
        freeze_extra_modules=None, use_llama_pro=False, oft_rank=0, oft_block_size=32,
        oft_target="all", module_dropout=0.0,
    ),
    **_same(
        "plugtune trains with transformers' optimizers: set training.optim (e.g. "
        "galore_adamw, apollo_adamw) and training.optim_target_modules instead",
        use_galore=False, galore_target="all", galore_rank=16, galore_update_interval=200,
        galore_scale=2.0, galore_proj_type="std", galore_layerwise=False, use_apollo=False,
        apollo_target="all", apollo_rank=16, apollo_update_interval=200, apollo_scale=32.0,
        apollo_proj="random", apollo_proj_type="std", apollo_scale_type="channel",
        apollo_layerwise=False, apollo_scale_front=False, use_badam=False, badam_mode="layer",
        badam_start_block=None, badam_switch_mode="ascending", badam_switch_interval=50,
        badam_update_ratio=0.05, badam_mask_mode="adjacent", badam_verbose=0,
        use_adam_mini=False, use_muon=False,
    ),
    **_same(
        "plugtune trains in bf16 mixed precision (training.bf16); it has no pure-bf16 mode",
        pure_bf16=False,
    ),
    **_same(
        "Megatron-Core training (mcore_adapter): plugtune trains with transformers' "
        "Trainer (DeepSpeed through training.deepspeed, or accelerate)", use_mca=False,
    ),
    **_same(
        "the DFT loss: plugtune's sft trains with the cross-entropy of the answer tokens",
        use_dft_loss=False,
    ),
    **_same(
        "plugtune's preference trainers have no such option (docs/training.md lists what "
        "dpo, kto, orpo, cpo and simpo take)",
        pref_ftx=0.0, pref_bco_weight=0.0, ref_model_adapters=None,
        ref_model_quantization_bit=None, reward_model_adapters=None,
        reward_model_quantization_bit=None, reward_model_type="lora", ppo_buffer_size=1,
        ppo_epochs=4, ppo_score_norm=False, ppo_target=6.0, ppo_whiten_rewards=False,
    ),
    **_same(
        "use training.report_to: swanlab and SWANLAB_* environment variables instead",
        use_swanlab=False, swanlab_project="llamafactory", swanlab_workspace=None,
        swanlab_run_name=None, swanlab_mode="cloud", swanlab_api_key=None,
        swanlab_logdir=None, swanlab_lark_webhook_url=None, swanlab_lark_secret=None,
    ),
    **_same(
        "plugtune interleaves one record of each dataset in turn, without probabilities",
        interleave_probs=None,
    ),
    **_same("plugtune evaluates all eval datasets together", eval_on_each_dataset=False),
    **_same("plugtune never trains on padding", ignore_pad_token_for_loss=True),
    **_same("the template plugin decides how tools are written", tool_format=None),
    **_same(
        "plugtune reads LLaMA-Factory's default_system (the template's default_system "
        "option); set that key instead", system_message=None,
    ),
    **_same(
        "plugtune decodes greedily or by sampling; it has no beam search",
        num_beams=1, length_penalty=1.0, eval_num_beams=None, generation_num_beams=None,
    ),
    **_same("plugtune always leaves special tokens out of answers", skip_special_tokens=True),
    **_same(
        "generating during evaluation is `plugtune predict`'s job",
        predict_with_generate=False, generation_max_length=None, sortish_sampler=False,
        generation_config=None,
    ),
    **_same(
        "plugtune has no sglang backend (its backends: transformers, vllm)",
        sglang_maxlen=4096, sglang_mem_fraction=0.7, sglang_tp_size=-1, sglang_config=None,
        sglang_lora_backend="triton",
    ),
    **_same(
        "plugtune has no ktransformers backend (its backends: transformers, vllm)",
        use_kt=False, kt_optimize_rule=None, cpu_infer=32, chunk_size=8192, mode="normal",
        kt_maxlen=4096, kt_use_cuda_graph=True, kt_mode="normal", kt_force_think=False,
    ),
    **_same(
        "an export setting: export with `plugtune export`",
        export_dir=None, export_size=5, export_device="cpu", export_quantization_bit=None,
        export_quantization_dataset=None, export_quantization_nsamples=128,
        export_quantization_maxlen=1024, export_legacy_format=False, export_hub_model_id=None,
    ),
    **_same(
        "plugtune always trains a vision-language model's language model; "
        "train_mm_proj_only (with finetuning_type full) trains the projector alone",
        freeze_language_model=False,
    ),
}
