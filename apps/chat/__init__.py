"""The agents' chat app (Gradio): image + question in, grounded streamed answer with sources out, feedback back."""
