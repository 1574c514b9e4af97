#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generates Vietnamese administrative form pages (A4, 300 dpi) with ground truth.

Each page is a "TỜ KHAI ĐĂNG KÝ KHAI SINH" (birth registration form) with
varying names, addresses, personal ID numbers, dates and dossier codes, drawn
with the DejaVu fonts, optionally degraded the way a counter's scanner
degrades paper: salt-and-pepper noise, blur, uneven lighting, skew, and a
page fed sideways or upside down.

For every page N it writes, in --out:
  page-NNN.png|jpg   the image (grayscale, 300 dpi recorded in the file)
  page-NNN.txt       the ground truth: the page's text in reading order, NFC,
                     one printed line per line
and once, pages.json: a list of {"file", "text_file", "id_number", "dates",
"dossier_code", "skew", "rotate", ...} per page, for tests and benchmarks.

Deterministic: the same arguments (and --seed) give the same files.

Usage:
  make_pages.py --out DIR --count N [--seed S] [--skew MIN MAX] [--noise P]
                [--blur R] [--shade S] [--rotate 0|90|180|270]
                [--format png|jpg] [--quality Q] [--first K]
"""

import argparse
import json
import os
import random
import sys
import unicodedata

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = {
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
}

DPI = 300
A4_PX = (2480, 3508)  # 210 x 297 mm at 300 dpi
MARGIN_X = 236        # 20 mm
MARGIN_Y = 236

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ",
            "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE_F = ["Thị", "Thị Hồng", "Ngọc", "Thị Thu", "Thị Mỹ", "Khánh", "Thị Kim"]
MIDDLE_M = ["Văn", "Đức", "Minh", "Quốc", "Hữu", "Công", "Thành"]
GIVEN_F = ["Nhung", "Hương", "Lan", "Thảo", "Trang", "Hằng", "Yến", "Ngân", "Vy", "Loan"]
GIVEN_M = ["Hùng", "Dũng", "Tuấn", "Khải", "Phước", "Lực", "Quyết", "Thắng", "Việt", "Đạt"]
PLACES = [
    # (ward, city/province, province code of the personal ID, agency code)
    ("phường Hoàn Kiếm", "thành phố Hà Nội", "001", "000.00.12.H26"),
    ("phường Bến Nghé", "Thành phố Hồ Chí Minh", "079", "000.00.31.H29"),
    ("phường Hải Châu", "thành phố Đà Nẵng", "048", "000.00.07.H17"),
    ("xã Đông Hưng", "tỉnh Thái Bình", "034", "000.00.12.H50"),
    ("phường Vĩnh Ninh", "thành phố Huế", "046", "000.00.21.H57"),
    ("xã Ứng Hòa", "thành phố Hà Nội", "001", "000.00.05.H26"),
    ("phường Ninh Kiều", "thành phố Cần Thơ", "092", "000.00.09.H13"),
]
STREETS = ["phố Hàng Bạc", "đường Lê Lợi", "đường Trần Hưng Đạo", "phố Huế",
           "đường Nguyễn Thị Minh Khai", "ngõ Văn Chương", "đường Điện Biên Phủ"]
HOSPITALS = ["Bệnh viện Phụ sản Hà Nội", "Bệnh viện Từ Dũ", "Trạm y tế xã",
             "Bệnh viện Đa khoa tỉnh", "Bệnh viện Phụ sản Trung ương"]
ETHNIC = ["Kinh", "Tày", "Thái", "Mường", "Khmer", "Hoa", "Nùng"]
RELATION = ["Cha", "Mẹ", "Ông nội", "Bà ngoại"]
MONTH_WORDS = ["một", "hai", "ba", "tư", "năm", "sáu", "bảy", "tám", "chín", "mười",
               "mười một", "mười hai"]


def person(rng, female):
    surname = rng.choice(SURNAMES)
    if female:
        return f"{surname} {rng.choice(MIDDLE_F)} {rng.choice(GIVEN_F)}"
    return f"{surname} {rng.choice(MIDDLE_M)} {rng.choice(GIVEN_M)}"


def id_number(rng, province, year):
    # CCCD: province (3) + century/gender (1) + year (2) + random (6)
    century = (year // 100 - 19) * 2 + rng.randrange(2)
    return f"{province}{century}{year % 100:02d}{rng.randrange(10**6):06d}"


def page_lines(rng):
    """The page's content: a list of (kind, text) with kind in
    center-bold, center, left."""
    ward, city, province, agency = rng.choice(PLACES)
    parent_female = rng.random() < 0.5
    parent = person(rng, parent_female)
    child_female = rng.random() < 0.5
    child = person(rng, child_female)
    parent_year = rng.randrange(1975, 2004)
    pid = id_number(rng, province, parent_year)
    bday, bmonth = rng.randrange(1, 29), rng.randrange(1, 13)
    byear = rng.choice([2025, 2026])
    sday, smonth = rng.randrange(1, 29), rng.randrange(1, 13)
    syear = 2026
    dossier = f"{agency}-{syear % 100:02d}{smonth:02d}{sday:02d}-{rng.randrange(1, 10000):04d}"
    house = rng.randrange(1, 200)
    birth_date = f"{bday:02d}/{bmonth:02d}/{byear}"
    lines = [
        ("center-bold", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        ("center-bold", "Độc lập - Tự do - Hạnh phúc"),
        ("gap", ""),
        ("center-bold", "TỜ KHAI ĐĂNG KÝ KHAI SINH"),
        ("gap", ""),
        ("left", f"Kính gửi: Ủy ban nhân dân {ward}, {city}"),
        ("left", f"Họ, chữ đệm, tên người yêu cầu: {parent}"),
        ("left", f"Số định danh cá nhân: {pid}"),
        ("left", f"Nơi cư trú: số {house} {rng.choice(STREETS)}, {ward}, {city}"),
        ("left", f"Quan hệ với người được đăng ký khai sinh: {rng.choice(RELATION)}"),
        ("left", "Đề nghị cơ quan đăng ký khai sinh cho người dưới đây:"),
        ("left", f"Họ, chữ đệm, tên: {child}"),
        ("left", f"Ngày, tháng, năm sinh: {birth_date}"),
        ("left", f"Giới tính: {'Nữ' if child_female else 'Nam'}   Dân tộc: "
                 f"{rng.choice(ETHNIC)}   Quốc tịch: Việt Nam"),
        ("left", f"Nơi sinh: {rng.choice(HOSPITALS)}, {city}"),
        ("left", f"Quê quán: {rng.choice(PLACES)[0]}, {rng.choice(PLACES)[1]}"),
        ("left", f"Mã hồ sơ: {dossier}"),
        ("left", "Tôi cam đoan nội dung đề nghị đăng ký khai sinh trên đây là đúng sự "
                 "thật, được sự thỏa thuận nhất trí của các bên liên quan theo quy định "
                 "pháp luật. Tôi chịu hoàn toàn trách nhiệm trước pháp luật về nội dung "
                 "cam đoan của mình."),
        ("gap", ""),
        ("right", f"Làm tại: {city.split(' ', 2)[-1] if city.startswith('thành phố') else city}, "
                  f"ngày {sday} tháng {smonth} năm {syear}"),
        ("right", "Người yêu cầu"),
        ("right", "(Ký, ghi rõ họ, chữ đệm, tên)"),
        ("gap", ""),
        ("right", parent),
    ]
    facts = {
        "id_number": pid,
        "dates": [birth_date, f"{sday:02d}/{smonth:02d}/{syear}"],
        "dossier_code": dossier,
        "birth_month_words": MONTH_WORDS[bmonth - 1],
    }
    return lines, facts


def wrap(draw, text, font, width):
    words, out, cur = text.split(" "), [], ""
    for w in words:
        trial = f"{cur} {w}" if cur else w
        if draw.textlength(trial, font=font) <= width or not cur:
            cur = trial
        else:
            out.append(cur)
            cur = w
    if cur:
        out.append(cur)
    return out


def render(rng, lines, family, size):
    regular, bold = FONTS[family]
    font = ImageFont.truetype(os.path.join(FONT_DIR, regular), size)
    font_b = ImageFont.truetype(os.path.join(FONT_DIR, bold), size + 4)
    img = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(img)
    width = A4_PX[0] - 2 * MARGIN_X
    y = MARGIN_Y
    step = int(size * 1.75)
    truth = []
    for kind, text in lines:
        if kind == "gap":
            y += step // 2
            continue
        f = font_b if kind == "center-bold" else font
        for part in wrap(draw, text, f, width):
            w = draw.textlength(part, font=f)
            if kind.startswith("center"):
                x = (A4_PX[0] - w) / 2
            elif kind == "right":
                x = A4_PX[0] - MARGIN_X - w - 120
            else:
                x = MARGIN_X
            draw.text((x, y), part, font=f, fill=rng.randrange(0, 40))
            truth.append(part)
            y += step
    return img, truth


def shade(img, strength, rng):
    """Uneven lighting: a darkening gradient across the page plus a gray paper tone."""
    w, h = img.size
    grad = Image.linear_gradient("L").resize((w, h))
    if rng.random() < 0.5:
        grad = grad.transpose(Image.Transpose.ROTATE_90).resize((w, h))
    # paper goes from 255 to 255*(1-strength); ink stays dark
    lut = [int(255 - strength * 255 * g / 255) for g in range(256)]
    return ImageChops.darker(img, grad.point(lut))


def salt_pepper(img, p, rng):
    w, h = img.size
    px = img.load()
    for _ in range(int(p * w * h)):
        i = rng.randrange(w * h)
        px[i % w, i // w] = 0 if rng.random() < 0.5 else 255
    return img


def make_page(args, index, rng):
    lines, facts = page_lines(rng)
    family = rng.choice(sorted(FONTS))
    size = rng.randrange(40, 47)  # about 10-11 pt at 300 dpi
    img, truth = render(rng, lines, family, size)
    if args.shade > 0:
        img = shade(img, args.shade, rng)
    skew = 0.0
    if args.skew:
        lo, hi = args.skew
        skew = round(rng.uniform(lo, hi) * rng.choice((-1, 1)), 2)
        img = img.rotate(skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    if args.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(args.blur))
    if args.noise > 0:
        img = salt_pepper(img, args.noise, rng)
    # the page as the scanner saw it: --rotate is clockwise
    if args.rotate == 90:
        img = img.transpose(Image.Transpose.ROTATE_270)
    elif args.rotate == 180:
        img = img.transpose(Image.Transpose.ROTATE_180)
    elif args.rotate == 270:
        img = img.transpose(Image.Transpose.ROTATE_90)
    base = f"page-{index:03d}"
    ext = "jpg" if args.format == "jpg" else "png"
    path = os.path.join(args.out, f"{base}.{ext}")
    if ext == "jpg":
        img.save(path, "JPEG", quality=args.quality, dpi=(DPI, DPI))
    else:
        img.save(path, "PNG", dpi=(DPI, DPI), optimize=False)
    text = unicodedata.normalize("NFC", "\n".join(truth) + "\n")
    with open(os.path.join(args.out, f"{base}.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    facts.update({"file": f"{base}.{ext}", "text_file": f"{base}.txt", "font": family,
                  "size": size, "skew": skew, "rotate": args.rotate,
                  "noise": args.noise, "blur": args.blur, "shade": args.shade})
    return facts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--count", type=int, required=True, help="number of pages")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--first", type=int, default=1, help="number of the first page file")
    ap.add_argument("--skew", type=float, nargs=2, metavar=("MIN", "MAX"),
                    help="skew each page by MIN..MAX degrees, random sign")
    ap.add_argument("--noise", type=float, default=0.0, metavar="P",
                    help="salt-and-pepper: fraction of pixels flipped (e.g. 0.005)")
    ap.add_argument("--blur", type=float, default=0.0, metavar="R",
                    help="Gaussian blur radius in pixels (e.g. 1.5)")
    ap.add_argument("--shade", type=float, default=0.0, metavar="S",
                    help="uneven lighting: darken the paper by up to S (0..1) across the page")
    ap.add_argument("--rotate", type=int, default=0, choices=(0, 90, 180, 270),
                    help="the page as fed: rotated clockwise by this much")
    ap.add_argument("--format", choices=("png", "jpg"), default="png")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    args = ap.parse_args(argv)
    if args.count < 1:
        ap.error("--count must be at least 1")
    if args.skew and not 0 <= args.skew[0] <= args.skew[1] <= 45:
        ap.error("--skew needs 0 <= MIN <= MAX <= 45")
    if not 0 <= args.noise < 0.5 or not 0 <= args.shade <= 1 or args.blur < 0:
        ap.error("--noise must be in [0, 0.5), --shade in [0, 1], --blur >= 0")
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    pages = [make_page(args, args.first + i, rng) for i in range(args.count)]
    with open(os.path.join(args.out, "pages.json"), "w", encoding="utf-8") as f:
        json.dump(pages, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
