"""The GitHub emulator's parts; the emulator itself is `metapipeline.sandbox.github_emulator`."""
