"""Spoken announcements for the hall: chime, then "请A001号到3号窗口办理", repeated.

Entry points: ``voice.agent.run_agent`` (the agent, embedded or standalone),
``voice.agent.main`` (``hallcall voice``). The modules, from the bottom up:
normalize (text), audio (WAV and splicing), settings, cache, engines (pyttsx3
worker), clips (recorded clip packs), players, announcer (the queue), agent.

This package imports nothing heavy on purpose: the pyttsx3 worker process imports
``voice.tts_worker`` and should start fast.
"""
