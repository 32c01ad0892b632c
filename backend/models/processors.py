"""Loading a checkpoint's processor, including Qwen2-VL's in an environment without torchvision.

transformers 5.23 makes Qwen2VLProcessor require a video processor, and every video processor needs
torchvision, which this project keeps out of its environment (the PyPI build breaks CPU torch).
"""

from __future__ import annotations

import json
from pathlib import Path


def qwen2_vl_image_only_processor(image_processor, tokenizer, video_config: dict, chat_template: str | None):
    """A stock Qwen2VLProcessor that handles images without torchvision.

    transformers 5.23 makes Qwen2VLProcessor require a video processor, and every video processor needs
    torchvision, which this project keeps out. The video slot gets a stand-in that only carries the video
    settings (so save_pretrained writes the standard files) and refuses to process videos.
    """
    from transformers import Qwen2VLProcessor

    class Unchecked(Qwen2VLProcessor):
        # The stock check looks the video base class up in a registry that is a stub without torchvision.
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor":
                return type(argument)
            return super().check_argument_for_proper_class(argument_name, argument)

    processor = Unchecked(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_settings_only(video_config),
        chat_template=chat_template,
    )
    # Back to the stock class: saved files name Qwen2VLProcessor, and the object pickles.
    processor.__class__ = Qwen2VLProcessor
    return processor


def video_settings_only(settings: dict):
    """A video-processor stand-in that serialises `settings` and raises if asked to process a video."""
    from transformers.video_processing_utils import VideoProcessorMixin

    class VideoSettingsOnly(VideoProcessorMixin):
        def __init__(self, values: dict):
            super().__init__()
            self.settings = dict(values)

        def to_dict(self) -> dict:
            return dict(self.settings)

        def __call__(self, *args, **kwargs):
            raise ImportError("Qwen2-VL video processing needs torchvision, which is not installed")

        def __reduce__(self):
            # The class is local; rebuilding through this module-level function keeps it picklable.
            return (video_settings_only, (self.settings,))

    return VideoSettingsOnly(settings)


def load_processor(model_dir: str | Path):
    """AutoProcessor.from_pretrained, with an image-only fallback for Qwen2-VL when torchvision is missing."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        return AutoProcessor.from_pretrained(model_dir)
    except ImportError:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "qwen2_vl":
            raise
    processor_config = json.loads((model_dir / "processor_config.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return qwen2_vl_image_only_processor(
        AutoImageProcessor.from_pretrained(model_dir),
        tokenizer,
        processor_config.get("video_processor") or _video_config_from_images(processor_config),
        tokenizer.chat_template,
    )


def _video_config_from_images(processor_config: dict) -> dict:
    image = processor_config.get("image_processor", {})
    return {
        "video_processor_type": "Qwen2VLVideoProcessor",
        "patch_size": image.get("patch_size", 14),
        "temporal_patch_size": image.get("temporal_patch_size", 2),
        "merge_size": image.get("merge_size", 2),
    }
