"""Stand-in V3 pack (comfy_api.latest): an async comfy_entrypoint returning a ComfyExtension whose nodes use
typed inputs, validate_inputs, fingerprint_inputs, lazy inputs with check_lazy_status, hidden values, an
async execute and ui previews."""
import torch
from comfy_api.latest import ComfyExtension, io, ui

CALLS = {"fingerprint": 0, "on_load": 0}


class ScaleLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3_ScaleLatent", display_name="Scale Latent (V3)", category="stand-in/v3",
            description="Multiplies or offsets a latent.",
            inputs=[io.Latent.Input("samples"),
                    io.Float.Input("factor", default=1.0, min=0.0, max=4.0, step=0.1),
                    io.Combo.Input("mode", options=["multiply", "add"], default="multiply")],
            outputs=[io.Latent.Output(display_name="scaled")])

    @classmethod
    def validate_inputs(cls, factor):
        return True if factor != 3.0 else "factor 3.0 is refused by this node"

    @classmethod
    def fingerprint_inputs(cls, factor, mode):
        CALLS["fingerprint"] += 1
        return f"{factor}:{mode}"

    @classmethod
    def execute(cls, samples, factor, mode):
        out = dict(samples)
        out["samples"] = samples["samples"] * factor if mode == "multiply" else samples["samples"] + factor
        return io.NodeOutput(out)


class LazySwitch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3_LazySwitch", category="stand-in/v3",
            inputs=[io.Boolean.Input("use_first", default=True),
                    io.Image.Input("first", lazy=True), io.Image.Input("second", lazy=True)],
            outputs=[io.Image.Output()])

    @classmethod
    def check_lazy_status(cls, use_first, first=None, second=None):
        wanted = "first" if use_first else "second"
        return [wanted] if (first if use_first else second) is None else []

    @classmethod
    def execute(cls, use_first, first=None, second=None):
        return io.NodeOutput(first if use_first else second)


class DescribeImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3_DescribeImage", category="stand-in/v3", is_output_node=True,
            inputs=[io.Image.Input("image")],
            outputs=[io.String.Output("text")],
            hidden=[io.Hidden.unique_id])

    @classmethod
    async def execute(cls, image):
        text = f"node {cls.hidden.unique_id}: {tuple(image.shape)}"
        preview = ui.PreviewImage(image, cls=cls).as_dict()
        return io.NodeOutput(text, ui={"images": preview["images"], "text": [text]})


class MeanColor(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="V3_MeanColor", category="stand-in/v3", is_output_node=True,
                         inputs=[io.MultiType.Input("image", types=[io.Image, io.Latent])],
                         outputs=[io.Float.Output(), io.String.Output()])

    @classmethod
    def execute(cls, image):
        values = image["samples"] if isinstance(image, dict) else image  # a LATENT or an IMAGE
        mean = float(torch.as_tensor(values).mean())
        return io.NodeOutput(mean, f"{mean:.3f}", ui=ui.PreviewText(f"{mean:.3f}"))


class AdjustImageOrMask(io.ComfyNode):
    """MatchType in and out; a DynamicCombo whose options bring their own inputs."""

    @classmethod
    def define_schema(cls):
        template = io.MatchType.Template("image_or_mask", [io.Image, io.Mask])
        return io.Schema(
            node_id="V3_AdjustImageOrMask", category="stand-in/v3",
            inputs=[io.MatchType.Input("image", template=template),
                    io.DynamicCombo.Input("method", options=[
                        io.DynamicCombo.Option(key="scale", inputs=[
                            io.Float.Input("factor", default=0.5, min=0.0, max=1.0, advanced=True)]),
                        io.DynamicCombo.Option(key="offset", inputs=[
                            io.Float.Input("amount", default=0.25, min=-1.0, max=1.0),
                            io.Boolean.Input("clamp", default=True)]),
                        io.DynamicCombo.Option(key="invert", inputs=[])])],
            outputs=[io.MatchType.Output(template, display_name="output")])

    @classmethod
    def execute(cls, image, method):
        CALLS["method"] = dict(method)
        if method["method"] == "scale":
            out = image * method["factor"]
        elif method["method"] == "offset":
            out = image + method["amount"]
            out = out.clamp(0, 1) if method["clamp"] else out
        else:
            out = 1.0 - image
        return io.NodeOutput(out)


class SumAll(io.ComfyNode):
    """Autogrow: image0, image1, ... arrive as one dict."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3_SumAll", category="stand-in/v3",
            inputs=[io.Autogrow.Input("images", template=io.Autogrow.TemplatePrefix(
                io.Image.Input("image"), prefix="image", min=1, max=4))],
            outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, images):
        CALLS["images"] = sorted(images)
        return io.NodeOutput(sum(images.values()))


class StandInExtension(ComfyExtension):
    async def on_load(self):
        CALLS["on_load"] += 1

    async def get_node_list(self):
        return [ScaleLatent, LazySwitch, DescribeImage, MeanColor, AdjustImageOrMask, SumAll]


async def comfy_entrypoint():
    return StandInExtension()
