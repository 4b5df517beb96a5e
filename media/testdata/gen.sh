#!/bin/sh
# Regenerates the audio fixtures of package media's tests (run from this folder).
# Needs espeak-ng 1.51 and sox 14.4.2 (Debian: apt-get install espeak-ng sox).
# The outputs are committed: tests never run these tools.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Speech for in-band DTMF talk-off tests: Mandarin and English, male and female,
# with digits spoken aloud, 8 kHz μ-law (the format trunks deliver).
espeak-ng -v cmn-latn-pinyin -s 160 -w "$tmp/zh.wav" \
  "nin hao, huan ying zhi dian yi er san si wu re xian. qing an yi jian, ren gong fu wu qing an ling."
espeak-ng -v en-us+f3 -s 170 -w "$tmp/en.wav" \
  "Welcome to the twelve three four five hotline. For service in English, press one. Please hold the line."
espeak-ng -v en-gb+m3 -s 150 -p 70 -w "$tmp/en2.wav" \
  "Hello? Hello, I want to report a broken street light on Zhongshan Road, number nine."
sox "$tmp/zh.wav" "$tmp/en.wav" "$tmp/en2.wav" -r 8000 -c 1 -e u-law speech_zh_en.wav norm -3

# Small files in formats DecodeWAV must accept or refuse, written by a real tool.
sox -n -r 8000 -c 1 -b 16 -e signed-integer sox_pcm16.wav synth 0.05 sine 1000 vol 0.5
sox -n -r 8000 -c 1 -e a-law sox_alaw.wav synth 0.05 sine 1000 vol 0.5
sox -n -r 8000 -c 1 -e u-law sox_ulaw.wav synth 0.05 sine 1000 vol 0.5
sox -n -r 16000 -c 1 -b 16 -e signed-integer sox_16k.wav synth 0.02 sine 1000 vol 0.5
sox -n -r 8000 -c 2 -b 16 -e signed-integer sox_stereo.wav synth 0.02 sine 1000 vol 0.5
sox -n -r 8000 -c 1 -b 8 -e unsigned-integer sox_u8.wav synth 0.02 sine 1000 vol 0.5
sox -n -r 8000 -c 1 -e floating-point sox_float.wav synth 0.02 sine 1000 vol 0.5
sox -n -r 8000 -c 1 -e ima-adpcm sox_adpcm.wav synth 0.02 sine 1000 vol 0.5
sox -n -r 8000 -c 1 -b 24 -e signed-integer sox_24bit.wav synth 0.02 sine 1000 vol 0.5
# A dual tone from sox: the digit '5' (770 + 1336 Hz), 80 ms, as μ-law, then silence.
sox -n -r 8000 -c 1 -e u-law sox_dtmf5.wav synth 0.08 sine 770 sine 1336 remix - vol 0.25 pad 0.1 0.1
