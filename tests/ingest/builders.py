"""Small documents written by the real libraries (PyMuPDF, python-docx, openpyxl, python-pptx)."""
from __future__ import annotations

from pathlib import Path

CIVIL_ARTICLES = [
    ("第一条", "为了保护民事主体的合法权益，调整民事关系，维护社会和经济秩序，适应中国特色社会主义发展要求，弘扬社会主义核心价值观，根据宪法，制定本法。"),
    ("第二条", "民法调整平等主体的自然人、法人和非法人组织之间的人身关系和财产关系。"),
    ("第三条", "民事主体的人身权利、财产权利以及其他合法权益受法律保护，任何组织或者个人不得侵犯。"),
]


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)]


def cjk_pdf(path: Path) -> Path:
    """Chinese PDF: 编/章 headings in bigger type, articles wrapping mid-sentence, a second page
    whose first article continues a sentence from page 1, and a repeated header and footer."""
    import pymupdf

    doc = pymupdf.open()
    for pno in range(3):
        page = doc.new_page(width=595, height=842)
        page.insert_text((240, 40), "民法典（示例）", fontname="china-s", fontsize=9)
        page.insert_text((290, 810), str(pno + 1), fontname="helv", fontsize=9)
        y = 100
        if pno == 0:
            page.insert_text((230, y), "第一编  总 则", fontname="china-s", fontsize=16)
            y += 30
            page.insert_text((240, y), "第一章  基本规定", fontname="china-s", fontsize=14)
            y += 30
            for number, body in CIVIL_ARTICLES:
                lines = _wrap(number + "  " + body, 30)
                for i, line in enumerate(lines):
                    page.insert_text((90 if i else 114, y), line, fontname="china-s", fontsize=12)
                    y += 16
                y += 14
            # a sentence that runs on to the next page
            page.insert_text((114, y), "第四条  民事主体在民事活动中的法律地位一律平等，", fontname="china-s", fontsize=12)
        elif pno == 1:
            page.insert_text((90, y), "任何人不得享有特权。", fontname="china-s", fontsize=12)
            y += 30
            page.insert_text((240, y), "第二章  自然人", fontname="china-s", fontsize=14)
            y += 30
            page.insert_text((114, y), "第十三条  自然人从出生时起到死亡时止，具有民事权利能力。", fontname="china-s", fontsize=12)
        else:
            page.insert_text((114, y), "第十四条  自然人的民事权利能力一律平等。", fontname="china-s", fontsize=12)
    doc.save(path)
    doc.close()
    return path


def english_pdf(path: Path, pages: int = 3) -> Path:
    """Two-column English pages with a running header/footer, hyphenation and a heading."""
    import pymupdf

    doc = pymupdf.open()
    for pno in range(pages):
        page = doc.new_page(width=612, height=792)
        page.insert_text((50, 40), f"ACME Quarterly Report {2000 + pno}", fontname="helv", fontsize=8)
        page.insert_text((300, 770), f"Page {pno + 1}", fontname="helv", fontsize=8)
        page.insert_text((50, 80), f"Section {pno + 1} Overview", fontname="hebo", fontsize=16)
        left = [
            f"Left column of page {pno + 1} starts here and the",
            "text keeps going with a word that is compli-",
            "cated enough to be hyphenated at the line end.",
            "The left column ends with this sentence.",
        ]
        right = [
            f"Right column of page {pno + 1} begins after the",
            "left one and must be read second in order.",
        ]
        for i, line in enumerate(left):
            page.insert_text((50, 120 + i * 12), line, fontname="helv", fontsize=10)
        for i, line in enumerate(right):
            page.insert_text((330, 120 + i * 12), line, fontname="helv", fontsize=10)
    doc.save(path)
    doc.close()
    return path


def table_pdf(path: Path) -> Path:
    """A ruled 3x4 table between two paragraphs."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 80), "Prices before the table.", fontname="helv", fontsize=11)
    rows = [["Fruit", "Colour", "Price"], ["Apple", "Red", "1.20"], ["Banana", "Yellow", "0.50"], ["Cherry", "Dark red", "3.10"]]
    x0, y0, cw, rh = 72, 110, 120, 22
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            rect = pymupdf.Rect(x0 + c * cw, y0 + r * rh, x0 + (c + 1) * cw, y0 + (r + 1) * rh)
            page.draw_rect(rect, color=(0, 0, 0), width=0.8)
            page.insert_text((rect.x0 + 4, rect.y1 - 7), cell, fontname="helv", fontsize=10)
    page.insert_text((72, y0 + len(rows) * rh + 40), "Text after the table.", fontname="helv", fontsize=11)
    doc.save(path)
    doc.close()
    return path


def encrypted_pdf(path: Path, password: str = "s3cret") -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Top secret launch codes are 0000.", fontname="helv", fontsize=11)
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner-" + password, user_pw=password)
    doc.close()
    return path


def image_only_pdf(path: Path, text: str = "第四十二条 失踪人的财产由其配偶代管。", fontsize: int = 28) -> Path:
    """A 'scanned' page: text rendered to a picture, no text layer."""
    import pymupdf

    src = pymupdf.open()
    page = src.new_page(width=595, height=300)
    page.insert_text((40, 120), text, fontname="china-s", fontsize=fontsize)
    png = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY).tobytes("png")
    src.close()
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=300)
    page.insert_image(page.rect, stream=png)
    doc.save(path)
    doc.close()
    return path


def png_bytes() -> bytes:
    import pymupdf

    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 20), 0)
    pix.clear_with(200)
    return pix.tobytes("png")


def sample_docx(path: Path) -> Path:
    import io

    import docx

    d = docx.Document()
    d.add_heading("Handbook", level=0)
    d.add_heading("Installation", level=1)
    d.add_paragraph("Run the installer and follow the steps.")
    d.add_paragraph("Download the package", style="List Bullet")
    d.add_paragraph("Unpack it", style="List Bullet")
    d.add_picture(io.BytesIO(png_bytes()))
    d.add_heading("Requirements", level=2)
    table = d.add_table(rows=3, cols=2)
    for r, row in enumerate([["Item", "Minimum"], ["RAM", "8 GB"], ["Disk", "20 GB"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("Text after the table.")
    d.add_paragraph("第一章  总则")  # a Chinese structural heading in Normal style
    d.add_paragraph("第一条　本手册适用于所有用户。")
    d.save(path)
    return path


def sample_xlsx(path: Path, rows: int = 250) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Prices"
    ws.append(["Fruit", "Price"])
    ws.append(["Apple", 1.2])
    ws.append(["Banana", 0.5])
    big = wb.create_sheet("Log")
    big.append(["Row", "Value", "Note"])
    for i in range(rows):
        big.append([i + 1, i * 2.5, f"entry {i + 1}"])
    wb.create_sheet("Empty")
    wb.save(path)
    return path


def sample_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    s1 = prs.slides.add_slide(prs.slide_layouts[1])
    s1.shapes.title.text = "Quarterly results"
    s1.placeholders[1].text_frame.text = "Revenue grew 12 percent"
    s1.notes_slide.notes_text_frame.text = "Mention the new market."
    s2 = prs.slides.add_slide(prs.slide_layouts[5])
    s2.shapes.title.text = "第二部分 数据"
    shape = s2.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1))
    for r, row in enumerate([["地区", "销量"], ["华北", "120"]]):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    prs.save(path)
    return path


STATUTE_TOC = [("第一章  一般规定", 2), ("第二章  物权的设立、变更、转让和消灭", 2), ("第三章  居住权", 3)]
STATUTE_367 = ["第三百六十七条  设立居住权，当事人应当采用书面形式订立居住权合同。", "居住权合同一般包括下列条款：",
               "（一）当事人的姓名或者名称和住所；", "（二）住宅的位置；", "（三）居住的条件和要求；", "（四）居住权期限；",
               "（五）解决争议的方法。"]


def statute_pdf(path: Path, toc_title: bool = True) -> Path:
    """A statute: a contents page (titled 目录, or untitled) of entries with dotted leaders and page
    numbers, chapters whose titles hold 、, short articles and an article with five items."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    y = 100
    if toc_title:
        page.insert_text((270, y), "目  录", fontname="china-s", fontsize=16)
        y += 40
    for title, number in STATUTE_TOC:
        page.insert_text((90, y), f"{title} {'.' * (60 - 3 * len(title))} {number}", fontname="china-s", fontsize=12)
        y += 28
    page = doc.new_page(width=595, height=842)
    y = 100
    page.insert_text((240, y), "第一章  一般规定", fontname="china-s", fontsize=14)
    y += 36
    for line in ["第二百零五条  本编调整因物的归属和利用产生的民事关系。", "第二百零六条  国家坚持和完善公有制为主体的基本经济制度。"]:
        page.insert_text((90, y), line, fontname="china-s", fontsize=12)
        y += 28
    page.insert_text((200, y), "第二章  物权的设立、变更、转让和消灭", fontname="china-s", fontsize=14)
    y += 36
    page.insert_text((90, y), "第二百零九条  不动产物权的设立、变更、转让和消灭，经依法登记，发生效力。", fontname="china-s",
                     fontsize=12)
    page = doc.new_page(width=595, height=842)
    y = 100
    page.insert_text((250, y), "第三章  居住权", fontname="china-s", fontsize=14)
    y += 36
    for line in STATUTE_367:
        page.insert_text((90 if line.startswith("第") else 114, y), line, fontname="china-s", fontsize=12)
        y += 28
    doc.save(path)
    doc.close()
    return path


def statute_docx(path: Path) -> Path:
    """The same statute as a Word file: a 目录 paragraph, then Normal-style chapters and articles."""
    import docx

    d = docx.Document()
    d.add_paragraph("目录")
    for title, _ in STATUTE_TOC:
        d.add_paragraph(title)
    d.add_paragraph("第一章  一般规定")
    d.add_paragraph("第二百零五条  本编调整因物的归属和利用产生的民事关系。")
    d.add_paragraph("第二章  物权的设立、变更、转让和消灭")
    d.add_paragraph("第二百零九条  不动产物权的设立、变更、转让和消灭，经依法登记，发生效力。")
    d.add_paragraph("第三章  居住权")
    for line in STATUTE_367:
        d.add_paragraph(line)
    d.save(path)
    return path
