#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Makes a scanned-looking PDF of at least SIZE_KB kilobytes for the
sign-openssl benchmark: pages of IMAGE (a scanned form), each a little
different (its page number drawn on it), as JPEG in a PDF written by PIL.

    make-pdf.py IMAGE SIZE_KB OUT.pdf
"""
import io
import sys

from PIL import Image, ImageDraw


def main():
    src, size_kb, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    base = Image.open(src).convert("RGB")
    pages = []
    while True:
        page = base.copy()
        ImageDraw.Draw(page).text((40, 40), "Trang %d" % (len(pages) + 1), fill=(0, 0, 0))
        pages.append(page)
        buf = io.BytesIO()
        pages[0].save(buf, "PDF", resolution=150, save_all=True, append_images=pages[1:], quality=70)
        if buf.tell() >= size_kb * 1024 or len(pages) > 500:
            break
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    print("%s: %d pages, %d bytes" % (out, len(pages), buf.tell()))


if __name__ == "__main__":
    main()
