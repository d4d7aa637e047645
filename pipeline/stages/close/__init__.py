"""The finance close: our statement, the platform's 结算账单 and the 资金账单 tied
together sub-order by sub-order (bill formulas, order payable recheck, settlement
against fund rows, refunds after settlement, other money, account balance).
`close_period` in `pipeline.stages.close.job` runs it all and writes the outputs."""
