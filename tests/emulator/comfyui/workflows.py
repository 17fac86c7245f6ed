"""API-format workflows the scenarios submit (node ids as in ComfyUI's default workflow)."""

from __future__ import annotations

from typing import Any

Prompt = dict[str, dict[str, Any]]


def txt2img(
    ckpt: str,
    text: str,
    *,
    seed: int = 1,
    steps: int = 3,
    width: int = 64,
    height: int = 64,
    batch: int = 1,
    prefix: str = "probe",
) -> Prompt:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": width, "height": height, "batch_size": batch},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
                "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix, "images": ["8", 0]}},
    }  # fmt: skip


def img2img(ckpt: str, image: str, text: str, *, denoise: float = 0.3, steps: int = 3) -> Prompt:
    prompt = txt2img(ckpt, text, steps=steps)
    del prompt["5"]
    prompt["10"] = {"class_type": "LoadImage", "inputs": {"image": image}}
    prompt["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    prompt["3"]["inputs"].update(latent_image=["11", 0], denoise=denoise)
    return prompt


def solid(
    *,
    color: int = 0xFF8800,
    width: int = 64,
    height: int = 48,
    batch: int = 2,
    scale_by: float = 2.0,
    prefix: str = "probe",
    preview: bool = False,
) -> Prompt:
    """EmptyImage → ImageScaleBy → SaveImage (and PreviewImage): runs without any model."""
    prompt: Prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": batch, "color": color},
        },
        "2": {
            "class_type": "ImageScaleBy",
            "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": scale_by},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }
    if preview:
        prompt["4"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    return prompt


def clip(
    *,
    color: int = 0x3366CC,
    width: int = 64,
    height: int = 48,
    frames: int = 8,
    fps: float = 8.0,
    prefix: str = "video/probe",
    container: str = "mp4",
    codec: str = "h264",
) -> Prompt:
    """EmptyImage frames → CreateVideo → SaveVideo: a clip without any model."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": frames, "color": color},
        },
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": fps}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": ["2", 0], "filename_prefix": prefix, "format": container, "codec": codec,
            },
        },
    }  # fmt: skip


def txt2video(
    ckpt: str,
    text: str,
    *,
    seed: int = 1,
    frames: int = 8,
    fps: float = 8.0,
    width: int = 64,
    height: int = 48,
) -> Prompt:
    """txt2img's sampler batch as a clip's frames: VAEDecode → CreateVideo → SaveVideo."""
    prompt = txt2img(ckpt, text, seed=seed, width=width, height=height, batch=frames)
    del prompt["9"]
    clip_nodes = clip(fps=fps)
    prompt["20"] = {**clip_nodes["2"], "inputs": {"images": ["8", 0], "fps": fps}}
    prompt["21"] = {**clip_nodes["3"], "inputs": {**clip_nodes["3"]["inputs"], "video": ["20", 0]}}
    return prompt
