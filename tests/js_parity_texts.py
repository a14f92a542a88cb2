"""Texts on which the JavaScript client must give the same tokens, spans and numbers as the Python runtime.

Chosen to exercise what differs between languages and tokenizer implementations: accents and combining marks
(stripped by the BERT normalizer), astral characters (two UTF-16 units, one code point), CJK (split into
single characters, extension planes included), characters the normalizer removes (controls, format
characters, U+FFFD), whitespace of every kind, punctuation of every script, words over WordPiece's length
limit, special tokens typed as text, and one text longer than the tiny model's limit of 64 tokens.
"""

from __future__ import annotations

PARITY_TEXTS: tuple[str, ...] = (
    "A gripping, beautifully shot film.",
    "Hello 😀 world",
    "I love it!!! 😍😍😍",
    "Ça, c'est naïve — café crème brûlée.",
    "Ångström and Øresund: Ærø's señor über-cool façade.",
    "e\u0301te\u0301 (decomposed accents) vs été",
    "Ελληνικά: ΟΔΥΣΣΕΥΣ and σοφία",
    "İstanbul'da ışık; Iğdır",
    "Straße, STRASSE, ﬁne ligatures",
    "東京は素晴らしい都市です。",
    "中文测试：你好，世界！",
    "Extension B 𠀀𠀁 and 𪜀 plus 𫝀 and 𬺰 and 𰀀",
    "한국어 문장도 있습니다",
    "日本語のカタカナとひらがな",
    "Arabic: مرحبا بالعالم!",
    "Hindi: नमस्ते दुनिया",
    "Thai: สวัสดีครับ",
    "repeated    spaces   between\twords\nand lines",
    "  leading and trailing spaces  ",
    "zero\u200bwidth\u200djoiner and soft\u00adhyphen",
    "control\u0007char and \ufffd replacement",
    "no\u00a0break\u2003em\u3000ideographic space",
    "Family: 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    "skin tones 👍🏽👋🏿 and keycaps 1️⃣",
    "New emoji 🥰🫠🪿 may be unassigned to old tables",
    "Math 𝐀𝐁𝐂 and 𝒳 script, 𝟙𝟚",
    "Punctuation: ¿qué? ¡sí! «guillemets» „quotes“ …",
    "Symbols $100 + 50% = <fun> ^_^ ~tilde~ `code` |pipe|",
    "Dashes ‐‑‒–—― and brackets ⟨⟩【】",
    "[CLS] typed [SEP] tokens and [MASK] inside",
    "[UNK] and [PAD] as words",
    "unbelievably unpredictable antidisestablishmentarianism",
    "Supercalifragilisticexpialidocious" * 4,
    "x" * 120 + " long",
    "12,345.67 and 3.14159 and 1e-5",
    "email@example.com https://example.org/path?q=1",
    "CamelCaseWords and snake_case_words",
    "don't won't can't shouldn't",
    "!!!",
    "...",
    "a",
    "😀",
    "The movie was not good, it was great.",
    "Terrible. Just terrible. I walked out after twenty minutes.",
    "Mixed: café 東京 😀 naïve 𠀀 end",
    "Combining: a\u0301\u0323 o\u0308\u0304 n\u0303",
    "Full-width ＡＢＣ１２３ and half-width ｶﾀｶﾅ",
    "Cyrillic: Привет, мир! ЁЖИК",
    "Hebrew: שלום עולם",
    "Emoji at the end 🎬",
    " ".join(["This long review keeps going with many words"] * 12) + " 😀 final",
)
