"""Writes online_retail_head.xlsx: the first 5,000 data rows of online_retail_sample.csv.gz as an
Excel workbook the way the UCI original is stored (numbers as numbers, InvoiceDate as Excel
date-times, CustomerID as a number, empty cells for guests), sheet "Online Retail".

Made once with openpyxl 3.1.5 (not needed by the tests): python make_xlsx.py
"""
import csv
import datetime
import gzip

import openpyxl

ROWS = 5000

wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Online Retail"
with gzip.open("online_retail_sample.csv.gz", "rt", encoding="utf-8", newline="") as f:
    r = csv.reader(f)
    header = next(r)
    ws.append(header)
    for i, row in enumerate(r):
        if i == ROWS:
            break
        inv, code, desc, qty, date, price, cust, country = row
        ws.append([
            inv if inv.startswith("C") else int(inv),
            code,
            desc,
            int(qty),
            datetime.datetime.strptime(date, "%Y-%m-%d %H:%M:%S"),
            float(price),
            float(cust) if cust else None,
            country,
        ])
wb.save("online_retail_head.xlsx")
